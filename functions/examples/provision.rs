//! Creates the grid's tables, bucket and queues on an AWS emulator (moto) and prints
//! the environment the functions need, for `cargo lambda watch --env-file`.
//!
//! ```text
//! AWS_ENDPOINT_URL=http://127.0.0.1:5000 cargo run -p grid-functions --example provision -- dev > .lambda.env
//! ```
//! Real deployments get these resources from `infra/template.yaml` instead.

use grid_store::aws::{AwsClients, schema};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| "dev".to_owned());
    let endpoint = std::env::var("AWS_ENDPOINT_URL").map_err(|_| "set AWS_ENDPOINT_URL to the emulator")?;
    let clients = AwsClients::from_env().await;
    let names = schema::provision(&clients, &prefix).await?;
    println!("GRID_STORE=aws");
    println!("AWS_ENDPOINT_URL={endpoint}");
    for (name, value) in names.to_vars() {
        println!("{name}={value}");
    }
    Ok(())
}
