//! Reaching msbd from elsewhere, and naming what answered: `msbctl -H ssh://…` through a
//! stand-in for ssh that runs the remote command here, then through a real sshd of the
//! test's own where one can be started; `dial-stdio` alone; errors that name the socket;
//! permission denied told as such, also from the far side.

use msb_proto::{Client, Endpoint};
use msb_tests::{bin, msbctl, wait_until, Daemon, Run};
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tempfile::TempDir;

/// The unprivileged user and group every Linux host has.
const NOBODY: u32 = 65534;

/// Stands in for ssh: skips its options and the destination, and runs the remote command
/// line here, as sshd would run it there.
const FAKE_SSH: &str = r#"#!/bin/sh
while [ "$1" != "--" ]; do shift; done
shift 2
exec sh -c "$*"
"#;

/// Public copies of msbctl and the fake ssh, which any user may run.
struct Tools {
    dir: TempDir,
}

impl Tools {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path();
        std::fs::copy(bin("msbctl"), path.join("msbctl")).expect("copy msbctl");
        std::fs::write(path.join("fake-ssh"), FAKE_SSH).expect("write the fake ssh");
        for (file, mode) in [("msbctl", 0o755), ("fake-ssh", 0o755), ("", 0o755)] {
            std::fs::set_permissions(path.join(file), std::fs::Permissions::from_mode(mode))
                .expect("chmod");
        }
        Self { dir }
    }

    fn msbctl(&self) -> PathBuf {
        self.dir.path().join("msbctl")
    }

    /// `msbctl -H HOST --socket SOCKET ARGS` through the fake ssh.
    fn remote(&self, host: &str, socket: &Path, args: &[&str]) -> Command {
        let ssh = self.dir.path().join("fake-ssh");
        remote(&self.msbctl(), host, socket, ssh.as_os_str(), args)
    }
}

/// `MSBCTL -H HOST --socket SOCKET ARGS`, with `ssh` as MSB_SSH_COMMAND and the same msbctl
/// on the far side.
fn remote(msbctl: &Path, host: &str, socket: &Path, ssh: &OsStr, args: &[&str]) -> Command {
    let mut cmd = Command::new(msbctl);
    cmd.args(["-H", host, "--socket"])
        .arg(socket)
        .args(args)
        .env("MSB_SSH_COMMAND", ssh)
        .env("MSB_REMOTE_MSBCTL", msbctl)
        .env_remove("MSB_SOCKET")
        .env_remove("MSB_HOST")
        .stdin(Stdio::null());
    cmd
}

/// Status, and a command's output and exit status, come through `remote` as on the host.
fn works_through(daemon: &Daemon, remote: impl Fn(&[&str]) -> Run) {
    let status = remote(&["--json", "status"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(status.json()["daemon"]["pid"], daemon.pid());
    let exec = remote(&[
        "sessions",
        "exec",
        "--create",
        "--",
        "sh",
        "-c",
        "echo far; exit 7",
    ]);
    assert_eq!((exec.code, exec.stdout.as_str()), (7, "far\n"), "{exec:?}");
}

fn run(mut cmd: Command) -> Run {
    let output = cmd.output().expect("run msbctl");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn errors_name_the_socket_that_answered() {
    let daemon = Daemon::start(&[]);
    let socket = daemon.socket.display().to_string();
    let missing = daemon.ctl(&["sessions", "show", "nope"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains(&format!("msbd at {socket}: no session")),
        "{missing:?}"
    );
    let json = daemon.ctl(&["--json", "sessions", "show", "nope"]).json();
    assert_eq!(json["error"]["code"], "unknown_session");
    assert_eq!(json["error"]["socket"], socket.as_str());
    daemon.finish();
    let gone = msbctl(Path::new(&socket), &["--json", "status"]);
    assert_eq!(gone.code, 3, "{gone:?}");
    assert_eq!(gone.json()["error"]["socket"], socket.as_str());
}

#[test]
fn dial_stdio_carries_the_protocol_between_its_stdio_and_the_socket() {
    let daemon = Daemon::start(&[]);
    let endpoint = Endpoint::Command(vec![
        bin("msbctl").into(),
        "--socket".into(),
        daemon.socket.clone().into(),
        "dial-stdio".into(),
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pid = runtime.block_on(async {
        let mut client = Client::connect_to(&endpoint, "dial-test")
            .await
            .expect("a carrier started");
        let status = client
            .status(None)
            .await
            .expect("status through dial-stdio");
        status.daemon.pid
    });
    assert_eq!(pid, daemon.pid());
    // Nothing answers: the first request, which carries the handshake, fails, and the
    // carrier's own words say why.
    let nowhere = Endpoint::Command(vec![
        bin("msbctl").into(),
        "--socket".into(),
        daemon.dir.path().join("nowhere.sock").into(),
        "dial-stdio".into(),
    ]);
    let error = runtime
        .block_on(async {
            let mut client = Client::connect_to(&nowhere, "dial-test").await?;
            client.status(None).await
        })
        .expect_err("no msbd there");
    assert!(error.is_unreachable(), "{error}");
    assert!(error.to_string().contains("nowhere.sock"), "{error}");
    daemon.finish();
}

#[test]
fn msbctl_h_runs_msbctl_on_the_far_side_and_speaks_through_it() {
    let daemon = Daemon::start(&[]);
    let tools = Tools::new();
    let host = "ssh://ops@far.example:2222";
    works_through(&daemon, |args| {
        run(tools.remote(host, &daemon.socket, args))
    });
    let missing = run(tools.remote(host, &daemon.socket, &["sessions", "show", "nope"]));
    assert!(
        missing.stderr.contains(&format!(
            "msbd at {host} (socket {})",
            daemon.socket.display()
        )),
        "names the host and its socket: {missing:?}"
    );
    // Nothing there: the far side's words, and where to look.
    let nowhere = daemon.dir.path().join("nowhere.sock");
    let unreachable = run(tools.remote(host, &nowhere, &["status"]));
    assert_eq!(unreachable.code, 3, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("nowhere.sock")
            && unreachable
                .stderr
                .contains("is msbd running on far.example"),
        "{unreachable:?}"
    );
    // A far side that may not open the socket says permission denied, through the protocol.
    let mut as_nobody = tools.remote(host, &daemon.socket, &["status"]);
    as_nobody.uid(NOBODY).gid(NOBODY);
    let denied = run(as_nobody);
    assert_eq!(denied.code, 3, "{denied:?}");
    assert!(denied.stderr.contains("permission denied"), "{denied:?}");
    assert!(!denied.stderr.contains("is msbd running"), "{denied:?}");
    // A stop through the far side returns once msbd has exited.
    let stop = run(tools.remote(host, &daemon.socket, &["stop", "--timeout", "5s"]));
    assert_eq!(stop.code, 0, "{stop:?}");
    let mut daemon = daemon;
    assert_eq!(daemon.wait_exit(), 0);
    daemon.assert_no_sandboxes();
}

/// An sshd of the test's own on 127.0.0.1, with its own host key and a key for root.
struct Sshd {
    dir: TempDir,
    child: Child,
    port: u16,
}

impl Sshd {
    /// Starts one, or says why this host cannot.
    fn start() -> Result<Self, String> {
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or("sshd is not installed (openssh-server)")?;
        for tool in ["ssh", "ssh-keygen"] {
            Command::new(tool)
                .arg("-V")
                .output()
                .map_err(|_| format!("{tool} is not installed"))?;
        }
        if !nix::unistd::geteuid().is_root() {
            return Err("sshd needs root to serve a login".into());
        }
        // Debian's sshd insists on its privilege separation directory.
        std::fs::create_dir_all("/run/sshd")
            .map_err(|e| format!("cannot make /run/sshd for sshd: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path();
        for key in ["host_key", "user_key"] {
            let made = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path.join(key))
                .status()
                .map_err(|e| e.to_string())?;
            if !made.success() {
                return Err(format!("ssh-keygen could not make {key}"));
            }
        }
        std::fs::copy(path.join("user_key.pub"), path.join("authorized_keys"))
            .map_err(|e| e.to_string())?;
        let config = format!(
            "HostKey {dir}/host_key\nAuthorizedKeysFile {dir}/authorized_keys\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile none\n\
             ListenAddress 127.0.0.1\n",
            dir = path.display()
        );
        std::fs::write(path.join("sshd_config"), config).map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let log = std::fs::File::create(path.join("sshd.log")).map_err(|e| e.to_string())?;
        let mut child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(path.join("sshd_config"))
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start sshd: {e}"))?;
        let listening = wait_until("sshd to listen", || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(format!(
                    "sshd exited at start ({status}): {}",
                    std::fs::read_to_string(path.join("sshd.log")).unwrap_or_default()
                )));
            }
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_ok()
                .then_some(Ok(()))
        });
        let sshd = Self { dir, child, port };
        listening.map(|()| sshd)
    }

    /// What MSB_SSH_COMMAND says: ssh with the test's key, trusting the test's sshd.
    fn ssh_command(&self) -> String {
        format!(
            "ssh -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR",
            self.dir.path().join("user_key").display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn msbctl_h_ssh_reaches_msbd_through_a_real_sshd() {
    let sshd = match Sshd::start() {
        Ok(sshd) => sshd,
        Err(why) => {
            eprintln!("skipped msbctl -H through a real sshd: {why}");
            return;
        }
    };
    let daemon = Daemon::start(&[]);
    let host = format!("ssh://root@127.0.0.1:{}", sshd.port);
    let ssh = sshd.ssh_command();
    let through_ssh = |args: &[&str]| {
        run(remote(
            &bin("msbctl"),
            &host,
            &daemon.socket,
            ssh.as_ref(),
            args,
        ))
    };
    works_through(&daemon, through_ssh);
    let wait = through_ssh(&["wait", "--timeout", "10s"]);
    assert_eq!(wait.code, 0, "{wait:?}");
    daemon.finish();
}
