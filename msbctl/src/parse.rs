//! Reading the command line into [`Cli`] with only as much of clap's set-up as the command
//! needs. clap copies every global option (`--socket`, `--json`, …) into every subcommand
//! before it parses anything: for `msbctl status` that is ~90 copies of options it never looks
//! at, the largest part of the memory, page faults and time a short command spends parsing.
//! So where the command line names its subcommands plainly, their options are handed to the
//! subcommands it names, and only to them; clap parses as it would have. Anything else
//! (`--help` before a subcommand, a typo, `--`) is parsed with the whole tree, as before.

use crate::cli::{self, Cli};
use clap::{Arg, Command, CommandFactory, FromArgMatches};
use std::ffi::OsString;

/// Parses `args` (the program name first) as clap parses them with `Cli`'s whole tree.
pub fn cli(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    let mut command = Cli::command();
    // A family named first gets its subcommands now, for the path to go on into them.
    if let Some(first) = invoked(&command, &args).first() {
        command = cli::expanded(command, first);
    }
    let path = invoked(&command, &args);
    if !path.is_empty() {
        command = scoped(command, &path);
    }
    let mut matches = command.try_get_matches_from_mut(args)?;
    // As `Parser::try_parse` does: an error found here is told with the whole command.
    let cli =
        Cli::from_arg_matches_mut(&mut matches).map_err(|err| err.format(&mut Cli::command()));
    // Freeing clap's tree of hundreds of small allocations costs a short command more than
    // keeping it does: msbctl parses once, and the process ends soon after.
    std::mem::forget((command, matches));
    cli
}

/// The subcommands `args` name, outermost first, as clap reads them: each after msbctl's
/// global options and their values. It stops at the first word it is not sure of, so what it
/// returns is right, if perhaps short; empty leaves the parse to the whole tree.
fn invoked(root: &Command, args: &[OsString]) -> Vec<String> {
    let globals: Vec<&Arg> = root.get_arguments().filter(|a| a.is_global_set()).collect();
    let global = |found: &dyn Fn(&Arg) -> bool| globals.iter().copied().find(|a| found(a));
    let mut path = Vec::new();
    let mut level = root;
    let mut words = args.iter().skip(1).map(|word| word.to_str());
    // A value in the next word; one that looks like an option is clap's to judge.
    let value = |words: &mut dyn Iterator<Item = Option<&str>>| matches!(words.next(), Some(Some(word)) if !word.starts_with('-'));
    while level.has_subcommands() {
        let Some(Some(word)) = words.next() else {
            break;
        };
        let known = if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, _)) => (name, true),
                None => (long, false),
            };
            match global(&|a| a.get_long() == Some(name)) {
                Some(arg) if arg.get_action().takes_values() => inline || value(&mut words),
                Some(_) => !inline,
                None => false,
            }
        } else if let Some(shorts) = word.strip_prefix('-') {
            let mut chars = shorts.chars();
            let short = chars.next();
            let attached = !chars.as_str().is_empty();
            match short.and_then(|s| global(&|a| a.get_short() == Some(s))) {
                Some(arg) if arg.get_action().takes_values() => attached || value(&mut words),
                Some(_) => !attached,
                None => false,
            }
        } else {
            match level.find_subcommand(word) {
                Some(sub) => {
                    path.push(sub.get_name().to_string());
                    level = sub;
                    true
                }
                None => false,
            }
        };
        if !known {
            break;
        }
    }
    path
}

/// `root` with its global options handed down `path` alone, as clap would have propagated
/// them: copies (not global) to each subcommand on it, global ones to the last, which makes
/// clap bring their values back up to `Cli`. An option that a subcommand on the path defines
/// itself (`stop --timeout`) stays global at the root, for clap to propagate and shadow as
/// always.
fn scoped(root: Command, path: &[String]) -> Command {
    let globals: Vec<Arg> = root
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let shadowed = shadowed(&root, path);
    let handed: Vec<Arg> = globals
        .into_iter()
        .filter(|g| !shadowed.contains(&g.get_id().as_str()))
        .collect();
    let root = handed.iter().fold(root, |root, g| {
        root.mut_arg(g.get_id().clone(), |a| a.global(false))
    });
    hand_down(root, path, &handed)
}

/// The ids of the options that some subcommand on `path` defines itself.
fn shadowed<'a>(root: &'a Command, path: &[String]) -> Vec<&'a str> {
    let mut ids = Vec::new();
    let mut level = root;
    for name in path {
        let Some(sub) = level.find_subcommand(name) else {
            break;
        };
        ids.extend(sub.get_arguments().map(|a| a.get_id().as_str()));
        level = sub;
    }
    ids
}

fn hand_down(command: Command, path: &[String], globals: &[Arg]) -> Command {
    let Some((name, rest)) = path.split_first() else {
        return command;
    };
    let last = rest.is_empty();
    command.mut_subcommand(name, |sub| {
        let sub = sub.args(globals.iter().map(|g| g.clone().global(last)));
        hand_down(sub, rest, globals)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        std::iter::once("msbctl")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    /// What a parse gives, in a form two parses can be compared by.
    fn outcome(parsed: Result<Cli, clap::Error>) -> String {
        match parsed {
            Ok(cli) => format!("{cli:?}"),
            Err(err) => format!("{:?}: {}", err.kind(), err.render()),
        }
    }

    /// What `Cli::try_parse_from` gives with every family's subcommands built from the start.
    fn whole(line: &str) -> String {
        let parsed = cli::command()
            .try_get_matches_from(args(line))
            .and_then(|matches| {
                Cli::from_arg_matches(&matches).map_err(|err| err.format(&mut cli::command()))
            });
        outcome(parsed)
    }

    #[test]
    fn the_path_is_read_past_global_options_and_stops_where_unsure() {
        let root = cli::command();
        let path = |line: &str| invoked(&root, &args(line)).join(" ");
        assert_eq!(path("status"), "status");
        assert_eq!(path("--socket /s --json status --watch"), "status");
        assert_eq!(path("--socket=/s -H ssh://h --timeout 2s status"), "status");
        assert_eq!(
            path("-Hssh://h sessions --json list --limit 5"),
            "sessions list"
        );
        assert_eq!(path("sessions ls"), "sessions");
        assert_eq!(path("--help status"), "");
        assert_eq!(path("--socket --json status"), "");
        assert_eq!(path("--json=yes status"), "");
        assert_eq!(path("-- status"), "");
        assert_eq!(path("stauts"), "");
    }

    #[test]
    fn a_scoped_parse_gives_what_the_whole_tree_gives() {
        let lines = [
            "status",
            "status --json",
            "--json status",
            "--socket /a status --socket /b",
            "status -w --interval 1s session-cleanup",
            "status --interval 1s",
            "status bogus",
            "status --bogus",
            "--timeout 5s health",
            "health --timeout 5s --color always",
            "--color sometimes health",
            "-H ssh://u@h:22 health",
            "-H nohost health",
            "stop",
            "stop --timeout 3s",
            "--timeout 3s stop",
            "stop --timeout 3s --keep-sandboxes",
            "wait --timeout 1s",
            "--timeout 9s wait",
            "pause --for 5m --reason why -- sleep 1",
            "restart --force session-cleanup",
            "sessions list",
            "sessions list --limit 100",
            "--json sessions --socket /s list --limit 100 --offset 5 -q",
            "sessions list --label a=1 --label b=2 --status ready",
            "sessions list --limit x",
            "sessions lst",
            "sessions",
            "sessions exec s-1 --timeout 2s -e A=1 -- true",
            "--timeout 7s sessions exec s-1 -- true",
            "sessions exec --create -- true",
            "sessions run s-1 -l python --timeout 1s",
            "sessions create --flavor large --label k=v",
            "debug fault session-cleanup panic",
            "--json debug fault bogus hang",
            "debug",
            "help debug fault",
            "completions bash",
            "dial-stdio",
            "version --json",
            "status --help",
            "sessions list --help",
            "sessions exec --help",
            "stop --help",
            "status --version",
            "status --json=1",
            "status -wq",
            "",
            "--help",
            "--version",
            "help sessions list",
            "-j status",
        ];
        for line in lines {
            assert_eq!(outcome(cli(args(line))), whole(line), "msbctl {line}");
        }
    }
}
