//! Links the functions, and `hello` (whose package uses this script too), as
//! position-dependent executables on Linux.
//!
//! A position-independent executable is relocated by the dynamic loader at every start:
//! ~40 000 pointers in the functions (the SDK's tables and vtables), ~300 pages copied on
//! write, most of what a cold start adds to `hello`'s. Linked at a fixed address, the
//! binary needs none of it. The trade-off (the binary's own code and data are not
//! randomised; the stack, heap and libraries still are) is in docs/decisions.md;
//! `GRID_LAMBDA_PIE=1` at build time keeps the default.

fn main() {
    println!("cargo::rerun-if-env-changed=GRID_LAMBDA_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if linux && std::env::var_os("GRID_LAMBDA_PIE").is_none() {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
