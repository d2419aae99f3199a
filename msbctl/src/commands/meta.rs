//! Commands about msbctl itself: `version` and `completions`.

use crate::cli::Cli;
use crate::exit;
use crate::output::{Failure, Out};
use crate::target::Target;
use clap::CommandFactory;
use serde::Serialize;

#[derive(Serialize)]
struct Versions {
    client: String,
    protocol: u32,
    daemon: Option<msb_proto::Welcome>,
}

/// Prints both versions; an unreachable daemon still shows the client's, and exits 3.
pub async fn version(target: &Target, out: &Out) -> Result<u8, Failure> {
    let daemon = super::connect(target).await;
    let versions = Versions {
        client: msb_proto::VERSION.to_string(),
        protocol: msb_proto::PROTOCOL,
        daemon: daemon.as_ref().ok().map(|c| c.daemon().clone()),
    };
    out.show(&versions, |v| {
        let mut text = format!("msbctl {} (protocol {})", v.client, v.protocol);
        if let Some(d) = &v.daemon {
            text.push_str(&format!(
                "\nmsbd {} (protocol {}, pid {})",
                d.version, d.protocol, d.pid
            ));
        }
        text
    })?;
    daemon.map(|_| exit::OK)
}

pub fn completions(shell: clap_complete::Shell) -> u8 {
    clap_complete::generate(shell, &mut Cli::command(), "msbctl", &mut std::io::stdout());
    exit::OK
}
