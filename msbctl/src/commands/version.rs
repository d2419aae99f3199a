//! `msbctl version`: msbctl's and msbd's.

use crate::exit;
use crate::output::{Failure, JsonErrorBody, Out};
use crate::target::Target;
use serde::Serialize;

#[derive(Serialize)]
struct Versions {
    client: String,
    protocol: u32,
    daemon: Option<msb_proto::Welcome>,
    /// Why `daemon` is null: msbd could not be reached, or refused this user.
    error: Option<JsonErrorBody>,
}

/// Prints both versions as one document; an unreachable daemon still shows the client's,
/// with the error, and exits 3.
pub async fn version(target: &Target, out: &Out) -> Result<u8, Failure> {
    let welcome = async {
        let mut client = super::connect(target).await?;
        Ok::<_, Failure>(client.daemon().await?)
    };
    let (daemon, error, status) = match welcome.await {
        Ok(welcome) => (Some(welcome), None, exit::OK),
        Err(failure) => match out.report(&failure) {
            Some((error, status)) => (None, Some(error), status),
            None => return Err(failure),
        },
    };
    let versions = Versions {
        client: msb_proto::VERSION.to_string(),
        protocol: msb_proto::PROTOCOL,
        daemon,
        error,
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
    Ok(status)
}
