//! msbd's command line. The settings' flags are made from the settings table, with no
//! defaults and no environment of clap's own, so that what a flag leaves unsaid can still
//! come from the environment or the config file, and every value is checked in one place.

use super::layers::List;
use super::settings::{self, Fallback, Spec};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "msbd",
    version,
    about = "Daemon that owns the sandbox sessions of this host and keeps it clean",
    after_help = "Every setting comes from its flag, else its MSB_* variable, else the config \
                  file (the flag's name with _ as the key: session_timeout = \"30m\"), else \
                  its default. SIGHUP reads the file again."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Hidden>,
    /// Config file (TOML) [default: /etc/msbd/msbd.toml for root, else msbd/msbd.toml in the
    /// user config dir] [env: MSB_CONFIG]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Check the settings, print each with where it came from, and exit (0, or 78 naming a
    /// bad one); binds and creates nothing
    #[arg(long)]
    pub check_config: bool,
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

#[derive(Debug, Subcommand)]
pub enum Hidden {
    /// The first process of a sandbox (started by msbd itself).
    #[command(hide = true)]
    Keeper(crate::backend::process::keeper::KeeperArgs),
}

/// The settings given as flags, unchecked.
#[derive(Debug, Clone, Default)]
pub struct DaemonArgs {
    pub settings: Vec<(&'static Spec, String)>,
    /// Each list flag with its items in the order given.
    pub lists: Vec<(List, Vec<String>)>,
}

impl FromArgMatches for DaemonArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Self::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for spec in settings::ALL {
            if matches.value_source(spec.flag) != Some(ValueSource::CommandLine) {
                continue;
            }
            let text = match spec.value_name {
                Some(_) => matches.get_one::<String>(spec.flag).cloned(),
                None => Some("true".to_string()),
            };
            if let Some(text) = text {
                self.settings.push((spec, text));
            }
        }
        self.lists = List::ALL
            .into_iter()
            .map(|list| {
                let items = matches
                    .get_many::<String>(list.flag())
                    .map(|items| items.cloned().collect())
                    .unwrap_or_default();
                (list, items)
            })
            .collect();
        Ok(())
    }
}

impl Args for DaemonArgs {
    fn augment_args(cmd: Command) -> Command {
        let cmd = settings::ALL
            .iter()
            .fold(cmd, |cmd, spec| cmd.arg(flag(spec)));
        List::ALL.into_iter().fold(cmd, |cmd, list| {
            cmd.arg(
                Arg::new(list.flag())
                    .long(list.flag())
                    .value_name(list_value_name(list))
                    .action(ArgAction::Append)
                    .allow_hyphen_values(true)
                    .help(format!(
                        "{} [env: {}, one a line]",
                        list_help(list),
                        list.env()
                    )),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

fn flag(spec: &'static Spec) -> Arg {
    let default = match &spec.default {
        Fallback::Text(text) => format!(" [default: {text}]"),
        Fallback::Host(_, words) => format!(" [default: {words}]"),
        Fallback::Unset => String::new(),
    };
    let arg = Arg::new(spec.flag).long(spec.flag).help(format!(
        "{}{default} [env: {}]",
        spec.help,
        spec.env()
    ));
    match spec.value_name {
        // A value that starts with '-' is still this flag's value (`--max-sessions -1`), to
        // be refused by the check with the setting's name rather than taken for a flag.
        Some(name) => arg.value_name(name).allow_hyphen_values(true),
        None => arg.action(ArgAction::SetTrue),
    }
}

fn list_value_name(list: List) -> &'static str {
    match list {
        List::Template | List::Language => "NAME=COMMAND",
        List::TemplateOption => "NAME:KEY=VALUE",
    }
}

fn list_help(list: List) -> &'static str {
    match list {
        List::Template => "A sandbox template, NAME=COMMAND run by /bin/sh -c (repeatable)",
        List::TemplateOption => {
            "An option of a template, NAME:KEY=VALUE: user=root, network=host or \
             mount=HOST:INSIDE[:ro|:rw] (repeatable)"
        }
        List::Language => {
            "A language for `sessions run`, NAME=COMMAND reading the code on stdin \
             (repeatable; built in: python=python3 -, node=node -, shell=sh -s)"
        }
    }
}
