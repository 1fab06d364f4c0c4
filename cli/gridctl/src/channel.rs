//! `gridctl channel`: open, write and read channels on a grid's channel node by hand.
//!
//! For integrators and operators: everything a device does on a channel, from a
//! shell. `new` prints the channel's seed, which is its owner's secret.

use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use grid_client::channels::{ChannelReader, ChannelWriter, HttpChannelClient};
use grid_core::channel::{ChannelAccess, ChannelSecrets, ChannelSeed, Command};
use grid_core::{ChannelRoot, SideKey};
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct ChannelArgs {
    /// The grid (channel node) to talk to.
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    node: String,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Create a channel, publish `hello` on it, and print its seed, root and side key.
    New {
        /// Use this side key instead of a random one.
        #[arg(long)]
        side_key: Option<String>,
    },
    /// Publish a command (JSON, e.g. '{"command":"goodbye"}') at the next free index.
    Publish {
        #[arg(long)]
        seed: String,
        #[arg(long)]
        side_key: String,
        /// Where to start looking for a free index.
        #[arg(long, default_value_t = 0)]
        from: u64,
        command: String,
    },
    /// Print a channel's messages from an index, with any rejected ones.
    Read {
        #[arg(long)]
        root: String,
        #[arg(long)]
        side_key: String,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 1000)]
        max: u64,
    },
}

pub async fn run(args: ChannelArgs) -> anyhow::Result<()> {
    let client = Arc::new(HttpChannelClient::new(args.node.clone(), reqwest::Client::new()));
    match args.action {
        Action::New { side_key } => {
            let side_key = match side_key {
                Some(key) => SideKey::parse(key)?,
                None => SideKey::generate(),
            };
            let seed = ChannelSeed::generate();
            let secrets = ChannelSecrets::new(&seed, side_key.clone());
            let mut writer = ChannelWriter::new(secrets.clone(), 0, client);
            writer.publish_once(&Command::Hello).await.context("publishing hello")?;
            let channel = json!({
                "seed": seed.expose_hex(),
                "root": secrets.root().as_str(),
                "sideKey": side_key.expose(),
                "nextIndex": writer.next_index(),
            });
            println!("{channel:#}");
            eprintln!("keep the seed secret: whoever holds it can write this channel");
        }
        Action::Publish { seed, side_key, from, command } => {
            let secrets = ChannelSecrets::new(&ChannelSeed::from_hex(&seed)?, SideKey::parse(side_key)?);
            let command = Command::parse(command.as_bytes()).context("not a channel command")?;
            let mut writer = ChannelWriter::new(secrets, from, client);
            let index = writer.publish(&command).await?;
            println!("{}", json!({"index": index, "nextIndex": writer.next_index()}));
        }
        Action::Read { root, side_key, from, max } => {
            let access = ChannelAccess::new(ChannelRoot::parse(root)?, SideKey::parse(side_key)?);
            let read = ChannelReader::new(access, client).read(from, max).await?;
            for message in &read.messages {
                println!("{} {}", message.index, message.command.to_json());
            }
            for rejection in &read.rejected {
                println!("{} rejected: {}", rejection.index, rejection.reason);
            }
            eprintln!("next index {}{}", read.next_index, if read.at_end { " (end of channel)" } else { "" });
        }
    }
    Ok(())
}
