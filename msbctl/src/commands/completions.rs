//! `msbctl completions SHELL`: clap's script for the shell, plus, for bash, completion of
//! session ids from the running msbd. Task names are in clap's script already: they are the
//! daemon's own (`msb_proto::TASK_NAMES`).

use crate::cli;
use crate::exit;
use crate::output::{Failure, Out};
use clap_complete::Shell;

pub fn completions(shell: Shell, out: &Out) -> Result<u8, Failure> {
    let mut command = cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "msbctl", &mut script);
    if shell != Shell::Bash {
        out.raw(&script)?;
        return Ok(exit::OK);
    }
    // clap's function completes words; ours wraps it and takes over at a session id.
    let script = String::from_utf8_lossy(&script).replace("-F _msbctl ", "-F _msbctl_live ");
    out.raw(script.as_bytes())?;
    out.raw(live_ids(&command).as_bytes())?;
    Ok(exit::OK)
}

/// The bash function that completes the `ID` of `msbctl sessions SUBCOMMAND` with the ids
/// `msbctl sessions list --ids` prints (quietly nothing when msbd does not answer). Which
/// subcommands take an id, and which options take a value, come from the definitions.
fn live_ids(command: &clap::Command) -> String {
    let mut valued = Vec::new();
    let mut collect = |command: &clap::Command| {
        for arg in command.get_arguments() {
            if arg.is_positional() || !arg.get_action().takes_values() {
                continue;
            }
            valued.extend(arg.get_long().map(|long| format!("--{long}")));
            valued.extend(arg.get_short().map(|short| format!("-{short}")));
        }
    };
    collect(command);
    let mut with_id = Vec::new();
    if let Some(sessions) = command.find_subcommand("sessions") {
        for sub in sessions.get_subcommands() {
            collect(sub);
            if sub
                .get_positionals()
                .next()
                .is_some_and(|a| a.get_id() == "id")
            {
                with_id.push(sub.get_name().to_string());
            }
        }
    }
    valued.sort();
    valued.dedup();
    valued.retain(|option| option != "--socket");
    format!(
        r#"
# Session ids from the running msbd for `msbctl sessions {cases} ID`.
_msbctl_live() {{
    _msbctl "$@"
    local cur="${{COMP_WORDS[COMP_CWORD]}}" word i seen="" sub="" positional=0 socket=()
    [[ $cur == -* ]] && return 0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        case "$word" in
            --socket) socket=(--socket "${{COMP_WORDS[i + 1]}}"); i=$((i + 1)); continue ;;
            --socket=*) socket=("$word"); continue ;;
            {valued}) i=$((i + 1)); continue ;;
            -*) continue ;;
        esac
        if [[ -n $sub ]]; then
            positional=$((positional + 1))
        elif [[ -n $seen ]]; then
            sub="$word"
        elif [[ $word == sessions ]]; then
            seen=1
        else
            return 0
        fi
    done
    case "$sub" in
        {cases}) ;;
        *) return 0 ;;
    esac
    [[ $positional -eq 0 ]] || return 0
    local ids
    ids=$("$1" "${{socket[@]}}" --timeout 2s sessions list --ids 2>/dev/null) || return 0
    [[ -n $ids ]] && COMPREPLY=($(compgen -W "$ids" -- "$cur"))
    return 0
}}
"#,
        valued = valued.join("|"),
        cases = with_id.join("|"),
    )
}
