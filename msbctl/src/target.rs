//! Where msbctl finds msbd: the socket on this host, or, with `-H ssh://[USER@]HOST[:PORT]`,
//! a socket on another host through ssh, which runs `msbctl dial-stdio` there and carries
//! the connection on its stdin and stdout (as `docker -H ssh://` does).

use msb_proto::Endpoint;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// An `ssh://[USER@]HOST[:PORT]` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshHost {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

const SSH_FORM: &str = "ssh://[USER@]HOST[:PORT]";

impl SshHost {
    /// Parses `-H`/`MSB_HOST`; the error says what is allowed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("'{text}' is not {SSH_FORM}: {why}");
        let rest = text
            .strip_prefix("ssh://")
            .ok_or_else(|| bad("only ssh:// is supported"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (user, place) = match rest.rsplit_once('@') {
            Some((user, place)) => (Some(user.to_string()), place),
            None => (None, rest),
        };
        // A bracketed IPv6 address may hold colons of its own.
        let (host, port) = match place.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| bad("an unclosed '['"))?;
                (host, after.strip_prefix(':'))
            }
            None => match place.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (place, None),
            },
        };
        let port = port
            .map(|p| match p.parse::<u16>() {
                Ok(port) if port > 0 => Ok(port),
                _ => Err(bad(&format!("port '{p}' is not a number from 1 to 65535"))),
            })
            .transpose()?;
        // Nothing ssh could take for an option, nor a path or spaces.
        let word = |w: &str| {
            !w.is_empty()
                && !w.starts_with('-')
                && !w.contains(|c: char| c.is_whitespace() || c == '/')
        };
        if !word(host) {
            return Err(bad("no host, or one ssh cannot take"));
        }
        if user.as_deref().is_some_and(|u| !word(u)) {
            return Err(bad("an empty or odd user name"));
        }
        Ok(Self {
            user,
            host: host.to_string(),
            port,
        })
    }

    /// `USER@HOST`, or `HOST`, as ssh takes it.
    fn destination(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

impl fmt::Display for SshHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match (self.host.contains(':'), self.port) {
            (true, Some(port)) => write!(f, "[{}]:{port}", self.host),
            (false, Some(port)) => write!(f, "{}:{port}", self.host),
            (_, None) => write!(f, "{}", self.host),
        }
    }
}

/// The msbd that msbctl talks to.
#[derive(Debug, Clone)]
pub struct Target {
    host: Option<SshHost>,
    /// The socket given with `--socket` (on `host` when there is one).
    socket: Option<PathBuf>,
}

impl Target {
    pub fn new(host: Option<SshHost>, socket: Option<PathBuf>) -> Self {
        Self { host, socket }
    }

    /// The socket on this host: the one given, else the default.
    pub fn local_socket(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(msb_proto::paths::default_socket)
    }

    pub fn endpoint(&self) -> Endpoint {
        match &self.host {
            None => Endpoint::Socket(self.local_socket()),
            Some(host) => Endpoint::Command(ssh_command(host, self.socket.as_deref())),
        }
    }

    /// What the hint of an unreachable msbd says.
    pub fn unreachable_hint(&self) -> String {
        match &self.host {
            None => format!(
                "is msbd running? start it with `msbd --socket {}`, or point msbctl at the right socket with --socket or MSB_SOCKET",
                self.local_socket().display()
            ),
            Some(host) => format!(
                "is msbd running on {}, and msbctl on the PATH of commands run by ssh there? MSB_REMOTE_MSBCTL names the remote msbctl, MSB_SSH_COMMAND the ssh to run, --socket the socket there",
                host.host
            ),
        }
    }
}

/// Names the socket msbctl talks to, as messages say it.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, &self.socket) {
            (None, _) => write!(f, "{}", self.local_socket().display()),
            (Some(host), Some(socket)) => write!(f, "{host} (socket {})", socket.display()),
            (Some(host), None) => write!(f, "{host} (its default socket)"),
        }
    }
}

/// `ssh [-p PORT] -- [USER@]HOST 'msbctl' dial-stdio [--socket 'PATH']`. MSB_SSH_COMMAND
/// replaces `ssh` and is run by sh, as git runs GIT_SSH_COMMAND, so it may carry options and
/// quotes; MSB_REMOTE_MSBCTL is the remote command line that runs msbctl (`sudo msbctl`).
fn ssh_command(host: &SshHost, socket: Option<&Path>) -> Vec<OsString> {
    let mut remote = std::env::var("MSB_REMOTE_MSBCTL").unwrap_or_else(|_| "msbctl".into());
    remote.push_str(" dial-stdio");
    if let Some(socket) = socket {
        remote.push_str(" --socket ");
        remote.push_str(&sh_quote(&socket.to_string_lossy()));
    }
    let mut argv: Vec<OsString> = match std::env::var_os("MSB_SSH_COMMAND") {
        Some(ssh) => {
            let mut line = ssh;
            line.push(r#" "$@""#);
            vec!["sh".into(), "-c".into(), line, "sh".into()]
        }
        None => vec!["ssh".into()],
    };
    if let Some(port) = host.port {
        argv.extend(["-p".into(), port.to_string().into()]);
    }
    argv.extend(["--".into(), host.destination().into(), remote.into()]);
    argv
}

/// `text` as one word for a POSIX shell.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_addresses_parse_as_docker_takes_them() {
        let full = SshHost::parse("ssh://ops@box.example:2222").expect("full");
        assert_eq!(
            (full.user.as_deref(), full.host.as_str(), full.port),
            (Some("ops"), "box.example", Some(2222))
        );
        let bare = SshHost::parse("ssh://box").expect("bare");
        assert_eq!((bare.user, bare.port), (None, None));
        let v6 = SshHost::parse("ssh://[::1]:22").expect("IPv6");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(22)));
        assert_eq!(v6.to_string(), "ssh://[::1]:22");
        assert_eq!(full.to_string(), "ssh://ops@box.example:2222");
    }

    #[test]
    fn what_ssh_could_misread_is_refused() {
        for bad in [
            "box",
            "tcp://box:1",
            "ssh://",
            "ssh://-oProxyCommand=x",
            "ssh://box:0",
            "ssh://box:port",
            "ssh://@box",
            "ssh://box/run/msbd.sock",
        ] {
            let err = SshHost::parse(bad).expect_err(bad);
            assert!(err.contains(SSH_FORM), "{bad}: {err}");
        }
    }

    #[test]
    fn the_remote_socket_is_one_quoted_word() {
        assert_eq!(sh_quote("/tmp/it's.sock"), r"'/tmp/it'\''s.sock'");
    }
}
