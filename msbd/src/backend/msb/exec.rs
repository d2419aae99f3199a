//! A command in a sandbox: `msb exec NAME --stream … -- CMD`, whose stdout and stderr are
//! the command's, passed on as they come (`--stream`; without it msb gives the output only at
//! the end), and whose stdin is the client's, or none (`--no-stdin`). The command's exit
//! status is msb's; msb's own failures exit 1 with an `error:` line on stderr. Killing `msb
//! exec` kills the command: microsandbox's relay sends SIGKILL to the sessions of a client
//! that went away (`crates/runtime/lib/relay.rs`).

use super::{copy, Shared};
use crate::backend::child::ExecChild;
use crate::backend::{BackendError, ExecSpec, Running, Work};
use std::process::Stdio;
use std::sync::Arc;

/// `msb exec` for `argv` as `spec` says.
fn args(name: &str, argv: &[String], spec: &ExecSpec) -> Vec<String> {
    let mut args = ["exec", name, "--stream"].map(String::from).to_vec();
    if !spec.stdin {
        args.push("--no-stdin".into());
    }
    for (key, value) in &spec.env {
        args.push("-e".into());
        args.push(format!("{key}={value}"));
    }
    if let Some(dir) = &spec.workdir {
        args.push("-w".into());
        args.push(dir.clone());
    }
    args.push("--".into());
    args.extend(argv.iter().cloned());
    args
}

impl Shared {
    pub(super) async fn exec(
        self: Arc<Self>,
        name: &str,
        spec: ExecSpec,
    ) -> Result<Running, BackendError> {
        self.running(name)?;
        match &spec.work {
            Work::Command(argv) => self.command(name, &args(name, argv, &spec), spec.stdin),
            Work::CopyIn(path) => copy::copy_in(self.clone(), name, path),
            Work::CopyOut(path) => copy::copy_out(self.clone(), name, path),
        }
    }

    fn command(&self, name: &str, args: &[String], stdin: bool) -> Result<Running, BackendError> {
        let mut cmd = self.runner.command(args);
        if stdin {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|err| BackendError::Exec {
            name: name.to_string(),
            message: format!("cannot start `{}`: {err}", self.runner.shown(args)),
        })?;
        let stdin = child.stdin.take();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(BackendError::Internal(
                "msb exec without output pipes".into(),
            ));
        };
        Ok(Running {
            stdin: stdin.map(|s| Box::pin(s) as _),
            stdout: Box::pin(stdout),
            stderr: Box::pin(stderr),
            process: Box::new(ExecChild::new(child, name)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msb_proto::Flavor;

    #[test]
    fn exec_streams_and_passes_env_workdir_and_stdin() {
        let argv = vec!["sh".to_string(), "-c".into(), "echo $A".into()];
        let spec = ExecSpec {
            work: Work::Command(argv.clone()),
            env: vec![("A".into(), "x=y".into())],
            workdir: Some("/srv".into()),
            stdin: false,
            flavor: Flavor::Small,
        };
        assert_eq!(
            args("sb", &argv, &spec),
            [
                "exec",
                "sb",
                "--stream",
                "--no-stdin",
                "-e",
                "A=x=y",
                "-w",
                "/srv",
                "--",
                "sh",
                "-c",
                "echo $A"
            ]
        );
        let with_stdin = ExecSpec {
            stdin: true,
            env: Vec::new(),
            workdir: None,
            ..spec
        };
        assert_eq!(
            args("sb", &argv[..1], &with_stdin),
            ["exec", "sb", "--stream", "--", "sh"]
        );
    }
}
