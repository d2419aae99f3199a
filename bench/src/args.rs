//! The command line: two subcommands with a few flags each, parsed by hand (no clap needed for
//! this little), into typed settings.

use crate::Result;
use std::time::Duration;

pub const USAGE: &str = "\
usage: msb-bench [--quick] [--sections 1,3] [--sizes 100,1000]
       msb-bench shutdown [--sizes 100,300] [--timeout 2s]
       msb-bench status-under-stop [--size 1000] [--timeout 5s]

Runs against target/release/msbd and target/release/msbctl (next to this executable):
    cargo build --release && target/release/msb-bench --quick

  (none)             the table: round trips, throughput, registry scale with real and
                     without processes, exec, idle; each figure beside its reference, the
                     ratio and the target; --quick: small sizes, short runs (under 2 min);
                     --sections: only these sections; --sizes: the scale section's sizes
  shutdown           time `msbctl stop --timeout T` with N sandboxes (every third ignores
                     SIGTERM), beside SIGTERM/wait T/SIGKILL of N plain process groups
  status-under-stop  `msbctl status` latency while a daemon with N sessions stops, beside
                     its latency on the idle daemon

Durations: 500ms, 2s, 1m or bare seconds.
";

#[derive(Debug, PartialEq)]
pub enum Command {
    Table {
        quick: bool,
        /// Only these sections (1 to 6); all when empty.
        sections: Vec<u8>,
        /// The registry-scale section's sizes instead of the plan's.
        sizes: Option<Vec<usize>>,
    },
    /// The floor client (see `floor`), run by the bench itself.
    FloorClient(std::path::PathBuf),
    Shutdown {
        sizes: Vec<usize>,
        timeout: Duration,
    },
    StatusUnderStop {
        size: usize,
        timeout: Duration,
    },
}

#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Command),
    Help,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed> {
    let args = args.into_iter();
    let mut args = args.peekable();
    if args.peek().is_none_or(|a| a.starts_with("--")) {
        return table(args);
    }
    let Some(sub) = args.next() else {
        return Err("no benchmark named".into());
    };
    if sub == "floor-client" {
        return match (args.next(), args.next()) {
            (Some(socket), None) => Ok(Parsed::Run(Command::FloorClient(socket.into()))),
            _ => Err("floor-client takes one socket path".into()),
        };
    }
    let flags = flags(args)?;
    if sub == "-h" || sub == "--help" || sub == "help" || flags.iter().any(|(f, _)| f == "help") {
        return Ok(Parsed::Help);
    }
    let command = match sub.as_str() {
        "shutdown" => {
            let mut sizes = vec![100, 300];
            let mut timeout = Duration::from_secs(2);
            for (flag, value) in flags {
                match flag.as_str() {
                    "sizes" => sizes = parse_sizes(&value)?,
                    "timeout" => timeout = parse_duration(&value)?,
                    _ => return Err(format!("shutdown: unknown flag --{flag}")),
                }
            }
            Command::Shutdown { sizes, timeout }
        }
        "status-under-stop" => {
            let mut size = 1000;
            let mut timeout = Duration::from_secs(5);
            for (flag, value) in flags {
                match flag.as_str() {
                    "size" => size = parse_size(&value)?,
                    "timeout" => timeout = parse_duration(&value)?,
                    _ => return Err(format!("status-under-stop: unknown flag --{flag}")),
                }
            }
            Command::StatusUnderStop { size, timeout }
        }
        other => return Err(format!("unknown benchmark {other:?}")),
    };
    Ok(Parsed::Run(command))
}

/// The table's flags: `--quick` alone, `--sections` and `--sizes` with a value.
fn table(args: impl Iterator<Item = String>) -> Result<Parsed> {
    let (mut quick, mut sections, mut sizes) = (false, Vec::new(), None);
    for (flag, value) in flags(args)? {
        match flag.as_str() {
            "quick" => quick = true,
            "help" => return Ok(Parsed::Help),
            "sections" => sections = parse_sections(&value)?,
            "sizes" => sizes = Some(parse_sizes(&value)?),
            _ => return Err(format!("unknown flag --{flag}")),
        }
    }
    Ok(Parsed::Run(Command::Table {
        quick,
        sections,
        sizes,
    }))
}

fn parse_sections(text: &str) -> Result<Vec<u8>> {
    text.split(',')
        .map(|part| match part.trim().parse::<u8>() {
            Ok(n @ 1..=6) => Ok(n),
            _ => Err(format!("bad section {part:?}: a number from 1 to 6")),
        })
        .collect()
}

/// `--flag value` and `--flag=value` pairs; `--help` and `--quick` stand alone.
fn flags(args: impl Iterator<Item = String>) -> Result<Vec<(String, String)>> {
    let mut args = args.peekable();
    let mut out = Vec::new();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        if flag == "help" || flag == "quick" {
            out.push((flag.to_string(), String::new()));
        } else if let Some((name, value)) = flag.split_once('=') {
            out.push((name.to_string(), value.to_string()));
        } else {
            let value = args
                .next()
                .ok_or_else(|| format!("--{flag} needs a value"))?;
            out.push((flag.to_string(), value));
        }
    }
    Ok(out)
}

fn parse_size(text: &str) -> Result<usize> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("bad size {text:?}: a whole number above 0")),
    }
}

fn parse_sizes(text: &str) -> Result<Vec<usize>> {
    text.split(',').map(parse_size).collect()
}

/// `500ms`, `2s`, `1m`, `1h` or bare (possibly fractional) seconds.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let bad = || format!("bad duration {text:?}: use 500ms, 2s, 1m or bare seconds");
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Parsed> {
        parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults() {
        assert_eq!(
            parse_line("shutdown"),
            Ok(Parsed::Run(Command::Shutdown {
                sizes: vec![100, 300],
                timeout: Duration::from_secs(2)
            }))
        );
        assert_eq!(
            parse_line("status-under-stop"),
            Ok(Parsed::Run(Command::StatusUnderStop {
                size: 1000,
                timeout: Duration::from_secs(5)
            }))
        );
    }

    #[test]
    fn flags_in_both_spellings() {
        assert_eq!(
            parse_line("shutdown --sizes 10,20 --timeout=500ms"),
            Ok(Parsed::Run(Command::Shutdown {
                sizes: vec![10, 20],
                timeout: Duration::from_millis(500)
            }))
        );
        assert_eq!(parse_line("shutdown --help"), Ok(Parsed::Help));
        assert!(parse_line("shutdown --size 10").is_err());
        assert!(parse_line("shutdown --sizes 0").is_err());
        assert!(parse_line("status-under-stop --timeout").is_err());
        assert_eq!(
            parse_line(""),
            Ok(Parsed::Run(Command::Table {
                quick: false,
                sections: vec![],
                sizes: None
            }))
        );
        assert_eq!(
            parse_line("--quick --sections 1,3 --sizes=1000"),
            Ok(Parsed::Run(Command::Table {
                quick: true,
                sections: vec![1, 3],
                sizes: Some(vec![1000])
            }))
        );
        assert!(parse_line("--sections 7").is_err());
        assert_eq!(parse_line("--help"), Ok(Parsed::Help));
        assert!(parse_line("--fast").is_err());
        assert!(parse_line("floor-client").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("2 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
