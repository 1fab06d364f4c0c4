//! Links `hello` as the functions are linked (`functions/build.rs` says why): the
//! baseline their cold starts are set beside is built the same way.

fn main() {
    println!("cargo::rerun-if-env-changed=GRID_LAMBDA_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if linux && std::env::var_os("GRID_LAMBDA_PIE").is_none() {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
