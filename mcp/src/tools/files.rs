//! `write_file` and `read_file`: one file into or out of a session, carried as the tar
//! archive msbd's copies travel as (placed as `docker cp` places it).

use crate::failure::Failure;
use crate::server::{answer, Server};
use base64::Engine;
use msb_proto::{Client, CopyRequest, ExecEvent, Input};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// Archive bytes sent per frame.
const CHUNK: usize = 64 * 1024;
/// Room for the archive's own headers around a file's bytes.
const ARCHIVE_OVERHEAD: u64 = 64 * 1024;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteFile {
    pub session_id: String,
    /// Where the file goes in the sandbox; relative paths start at its working directory.
    /// An existing directory receives the file under its own name.
    pub path: String,
    /// The file's text (UTF-8). Give this or `base64`.
    pub content: Option<String>,
    /// The file's bytes, base64-encoded. Give this or `content`.
    pub base64: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Written {
    pub session_id: String,
    pub path: String,
    /// The file's size.
    pub bytes: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadFile {
    pub session_id: String,
    /// The file in the sandbox; relative paths start at its working directory.
    pub path: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FileContent {
    pub session_id: String,
    pub path: String,
    pub size: u64,
    /// `utf-8` when the file is text, else `base64`.
    pub encoding: String,
    pub content: String,
}

#[tool_router(router = file_tools, vis = "pub(crate)")]
impl Server {
    #[tool(
        description = "Write a file into one of your sessions (text as content, or bytes as \
                       base64).",
        output_schema = schema_for_output::<Written>()
    )]
    async fn write_file(
        &self,
        Parameters(args): Parameters<WriteFile>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let outcome = self.write(args, &ctx).await;
        answer(outcome, |w| {
            format!("wrote {} bytes to {}", w.bytes, w.path)
        })
    }

    #[tool(
        description = "Read a file from one of your sessions; text comes back as it is, \
                       other bytes as base64. Files over the server's read limit are refused.",
        output_schema = schema_for_output::<FileContent>()
    )]
    async fn read_file(
        &self,
        Parameters(args): Parameters<ReadFile>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let outcome = self.read(args, &ctx).await;
        answer(outcome, |f| match f.encoding.as_str() {
            "utf-8" => f.content.clone(),
            _ => format!(
                "{} bytes of binary data (base64 in the structured result)",
                f.size
            ),
        })
    }
}

impl Server {
    async fn write(
        &self,
        args: WriteFile,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Written, Failure> {
        let data = match (args.content, args.base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| Failure::invalid(format!("base64 is not valid base64: {e}")))?,
            _ => {
                return Err(Failure::invalid(
                    "give the file as content or as base64, one of them",
                ))
            }
        };
        let name = file_name(&args.path)?;
        let archive = pack(name, &data)
            .map_err(|e| Failure::new("internal", format!("cannot pack {}: {e}", args.path)))?;
        let mut client = self.session_client(&args.session_id, ctx).await?;
        let copy = client
            .copy_in(CopyRequest {
                session_id: args.session_id.clone(),
                path: args.path.clone(),
            })
            .await?;
        for chunk in archive.chunks(CHUNK) {
            copy.input(Input::Data(chunk.to_vec())).await?;
        }
        copy.input(Input::End).await?;
        loop {
            match copy.next().await? {
                ExecEvent::Copied(_) => break,
                ExecEvent::Output(_) => {}
                ExecEvent::Exit(_) => {
                    return Err(Failure::new(
                        "internal",
                        "msbd answered a copy with an exit",
                    ))
                }
            }
        }
        Ok(Written {
            session_id: args.session_id,
            path: args.path,
            bytes: data.len() as u64,
        })
    }

    async fn read(
        &self,
        args: ReadFile,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<FileContent, Failure> {
        let limit = self.shared.limits.max_read;
        let too_large = || {
            Failure::new(
                "too_large",
                format!(
                    "{} is larger than the read limit of {limit} bytes (msb-mcp --max-read)",
                    args.path
                ),
            )
        };
        let mut client = self.session_client(&args.session_id, ctx).await?;
        let copy = client
            .copy_out(CopyRequest {
                session_id: args.session_id.clone(),
                path: args.path.clone(),
            })
            .await?;
        let mut archive = Vec::new();
        loop {
            match copy.next().await? {
                ExecEvent::Output(chunk) => {
                    archive.extend_from_slice(&chunk.data);
                    // Dropping the connection ends the copy in msbd.
                    if archive.len() as u64 > limit + ARCHIVE_OVERHEAD {
                        return Err(too_large());
                    }
                }
                ExecEvent::Copied(_) => break,
                ExecEvent::Exit(_) => {
                    return Err(Failure::new(
                        "internal",
                        "msbd answered a copy with an exit",
                    ))
                }
            }
        }
        let data = unpack_one(&archive, &args.path, limit).map_err(|e| match e {
            Unpacked::TooLarge => too_large(),
            Unpacked::Bad(message) => Failure::invalid(message),
        })?;
        let size = data.len() as u64;
        let (encoding, content) = match String::from_utf8(data) {
            Ok(text) => ("utf-8", text),
            Err(e) => (
                "base64",
                base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
            ),
        };
        Ok(FileContent {
            session_id: args.session_id,
            path: args.path,
            size,
            encoding: encoding.to_string(),
            content,
        })
    }

    /// A connection to msbd, once session `id` is known to be the caller's.
    async fn session_client(
        &self,
        id: &str,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Client, Failure> {
        let mut client = self.connect().await?;
        self.owned(&mut client, &self.caller(ctx), id).await?;
        Ok(client)
    }
}

/// The last component of `path`, which the archive's one entry is named.
fn file_name(path: &str) -> Result<&str, Failure> {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|_| !path.ends_with('/'))
        .ok_or_else(|| Failure::invalid(format!("path '{path}' names no file")))
}

fn pack(name: &str, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_data(&mut header, name, data)?;
    builder.into_inner()
}

enum Unpacked {
    TooLarge,
    Bad(String),
}

/// The one regular file an archive of `path` holds.
fn unpack_one(archive: &[u8], path: &str, limit: u64) -> Result<Vec<u8>, Unpacked> {
    let bad = |why: String| Unpacked::Bad(format!("cannot read {path}: {why}"));
    let mut entries = tar::Archive::new(archive);
    let mut entries = entries.entries().map_err(|e| bad(e.to_string()))?;
    let mut entry = match entries.next() {
        Some(entry) => entry.map_err(|e| bad(e.to_string()))?,
        None => return Err(bad("msbd sent an empty archive".into())),
    };
    match entry.header().entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => {}
        tar::EntryType::Directory => {
            return Err(Unpacked::Bad(format!(
                "{path} is a directory; read_file reads one file (list it with execute_command)"
            )))
        }
        other => return Err(bad(format!("it is not a regular file ({other:?})"))),
    }
    if entry.size() > limit {
        return Err(Unpacked::TooLarge);
    }
    let mut data = Vec::new();
    entry
        .read_to_end(&mut data)
        .map_err(|e| bad(e.to_string()))?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_file_unpacks_as_it_was() {
        let archive = pack("notes.txt", b"hello").expect("pack");
        let data = unpack_one(&archive, "notes.txt", 5).ok();
        assert_eq!(data.as_deref(), Some(&b"hello"[..]));
        assert!(matches!(
            unpack_one(&archive, "notes.txt", 4),
            Err(Unpacked::TooLarge)
        ));
    }

    #[test]
    fn a_path_must_name_a_file() {
        assert_eq!(file_name("/work/a.txt").ok(), Some("a.txt"));
        assert_eq!(file_name("b").ok(), Some("b"));
        for bad in ["/", "", "dir/", ".."] {
            assert!(file_name(bad).is_err(), "{bad}");
        }
    }
}
