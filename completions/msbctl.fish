# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_msbctl_global_optspecs
    string join \n socket= H/host= json timeout= color= h/help V/version
end

function __fish_msbctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_msbctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_msbctl_using_subcommand
    set -l cmd (__fish_msbctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c msbctl -n "__fish_msbctl_needs_command" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_needs_command" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_needs_command" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_needs_command" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_needs_command" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_needs_command" -s V -l version -d 'Print version'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "status" -d 'Show the tasks, their health and a summary of sessions'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "health" -d 'Print overall health in one line; the exit code says it too'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "restart" -d 'Restart unhealthy tasks (every named task with --force); never lifts a pause'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "pause" -d 'Pause tasks at a safe point, as a lease that ends at --for or when CMD exits'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "resume" -d 'Resume paused tasks'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "run" -d 'Run one cycle of a task now (also while paused) and print its report'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "stop" -d 'Stop msbd gracefully: stop tasks and sandboxes, kill what is left at the deadline'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "orphans" -d 'List the sandboxes orphan-cleanup would stop, without stopping them'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "config" -d 'Show msbd\'s effective settings, each with where it came from (default, file, env, flag)'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "events" -d 'Print what happened in msbd lately (task states, cycles, sessions, commands, pauses); with --json, one JSON object per line'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "metrics" -d 'Print msbd\'s metrics in the Prometheus text format'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "sessions" -d 'The session registry'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "debug" -d 'Tools for testing msbd itself'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "completions" -d 'Print a completion script for SHELL'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "version" -d 'Print the versions of msbctl and of the running msbd'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "wait" -d 'Wait until msbd answers and each task has run its first cycle (or is paused); exit 3 at the deadline'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "dial-stdio" -d 'Join stdin and stdout to msbd\'s socket, for `msbctl -H ssh://…` on another host'
complete -c msbctl -n "__fish_msbctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c msbctl -n "__fish_msbctl_using_subcommand status" -l interval -d 'How often --watch asks msbd (at least 100ms)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand status" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand status" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand status" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand status" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand status" -s w -l watch -d 'Show it again every --interval, until Ctrl-C'
complete -c msbctl -n "__fish_msbctl_using_subcommand status" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand health" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand health" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand health" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand health" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand health" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand health" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand restart" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand restart" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand restart" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand restart" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand restart" -l force -d 'Restart tasks that are not unhealthy too'
complete -c msbctl -n "__fish_msbctl_using_subcommand restart" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand restart" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand pause" -l for -d 'Resume automatically after this long (500ms, 30s, 5m, 1h, or seconds; at most 365 days)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand pause" -l reason -d 'Why, shown in status' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand pause" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand pause" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand pause" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand pause" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand pause" -l require-pause -d 'With CMD: do not run it unless the pause was taken'
complete -c msbctl -n "__fish_msbctl_using_subcommand pause" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand pause" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand resume" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand resume" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand resume" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand resume" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand resume" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand resume" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand run" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand run" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand run" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand run" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand run" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand stop" -l timeout -d 'Deadline for sandboxes to stop [default: the daemon\'s --shutdown-timeout]' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand stop" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand stop" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand stop" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand stop" -l keep-sandboxes -d 'Exit without stopping sandboxes; the next msbd on this state dir adopts them (upgrades)'
complete -c msbctl -n "__fish_msbctl_using_subcommand stop" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand orphans" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand orphans" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand orphans" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand orphans" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand orphans" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand orphans" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand config" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand config" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand config" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand config" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand config" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand events" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand events" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand events" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand events" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand events" -s f -l follow -d 'Then print each new event as it happens, until Ctrl-C'
complete -c msbctl -n "__fish_msbctl_using_subcommand events" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand events" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand metrics" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand metrics" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand metrics" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand metrics" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand metrics" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand metrics" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "list" -d 'List sessions, least recently accessed first (a page: in creation order)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "show" -d 'Show one session (an ended one with its exit and last lines)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "create" -d 'Create a session and its sandbox'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "touch" -d 'Mark a session as used now, postponing its expiry'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "stop" -d 'Stop a session\'s sandbox and remove the session'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "busy" -d 'Mark a session busy (processing): never expired or evicted until marked idle'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "idle" -d 'Mark a busy session idle again'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "exec" -d 'Run a command in a session: output streams live, and msbctl exits with the command\'s status (128+N for a signal, 124 for a timeout, 3 if msbd is unreachable)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "run" -d 'Run code in a session with a language\'s interpreter (python, node, shell, or one msbd was given with --language); status as for exec'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "cp" -d 'Copy a file or directory into or out of a session: one side is ID:PATH, as in `docker cp` (into an existing directory, else as the destination)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "logs" -d 'Print the output of a session\'s sandbox (the last 1 MiB is kept); with --json, one document of lines once the stream has ended'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and not __fish_seen_subcommand_from list show create touch stop busy idle exec run cp logs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l status -d 'Only sessions in this status' -r -f -a "creating\t''
ready\t''
running\t''
processing\t''
error\t''
stopped\t''
ended\t'Its sandbox ended by itself; kept for a while so its exit can be read'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l template -d 'Only sessions of this template' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l idle-longer-than -d 'Only sessions not accessed for longer than this' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l label -d 'Only sessions carrying this label (repeatable: they must carry all)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l limit -d 'At most N sessions: a page, in creation order (oldest first)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l offset -d 'Skip the first N sessions; a page in creation order, like --limit' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l ended -d 'Also sessions whose sandbox ended by itself (kept 15 minutes as `ended`)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -s q -l ids -l quiet -d 'Only the ids, one a line (with --json, an array of them)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from show" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from show" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from show" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from show" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from show" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from create" -l template -d 'Template to run [default: default]' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from create" -l flavor -d 'Resources of the sandbox [default: the daemon\'s --default-flavor]' -r -f -a "small\t'1 CPU, 1024 MB'
medium\t'2 CPUs, 2048 MB'
large\t'4 CPUs, 4096 MB'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from create" -l id -d 'Session id [default: generated]' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from create" -l label -d 'Label the session (repeatable); `sessions list --label` finds it by them' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from create" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from create" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from create" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from create" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from create" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from touch" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from touch" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from touch" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from touch" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from touch" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from touch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from stop" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from stop" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from stop" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from stop" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from stop" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from busy" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from busy" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from busy" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from busy" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from busy" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from busy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from idle" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from idle" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from idle" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from idle" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from idle" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from idle" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -l timeout -d 'Kill the command (its whole process tree) after this long; exit 124' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -l template -d 'With --create: the template of a new session' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -l flavor -d 'With --create: the flavor of a new session' -r -f -a "small\t'1 CPU, 1024 MB'
medium\t'2 CPUs, 2048 MB'
large\t'4 CPUs, 4096 MB'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -l label -d 'With --create: a label of a new session (repeatable)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -s e -l env -d 'Set an environment variable for the command (repeatable)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -s w -l workdir -d 'Working directory [default: the sandbox\'s]; relative to the sandbox\'s' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -l create -d 'Create the session first if it does not exist'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -s i -l interactive -d 'Forward msbctl\'s stdin to the command'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from exec" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -l timeout -d 'Kill the command (its whole process tree) after this long; exit 124' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -l template -d 'With --create: the template of a new session' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -l flavor -d 'With --create: the flavor of a new session' -r -f -a "small\t'1 CPU, 1024 MB'
medium\t'2 CPUs, 2048 MB'
large\t'4 CPUs, 4096 MB'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -l label -d 'With --create: a label of a new session (repeatable)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -s l -l language -d 'Language of the code' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -l create -d 'Create the session first if it does not exist'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from cp" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from cp" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from cp" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from cp" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from cp" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from cp" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from logs" -l tail -d 'Only the last N lines of what is kept' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from logs" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from logs" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from logs" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from logs" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Keep printing what is written until the sandbox ends'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from logs" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "list" -d 'List sessions, least recently accessed first (a page: in creation order)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one session (an ended one with its exit and last lines)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a session and its sandbox'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "touch" -d 'Mark a session as used now, postponing its expiry'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop a session\'s sandbox and remove the session'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "busy" -d 'Mark a session busy (processing): never expired or evicted until marked idle'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "idle" -d 'Mark a busy session idle again'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "exec" -d 'Run a command in a session: output streams live, and msbctl exits with the command\'s status (128+N for a signal, 124 for a timeout, 3 if msbd is unreachable)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run code in a session with a language\'s interpreter (python, node, shell, or one msbd was given with --language); status as for exec'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "cp" -d 'Copy a file or directory into or out of a session: one side is ID:PATH, as in `docker cp` (into an existing directory, else as the destination)'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "logs" -d 'Print the output of a session\'s sandbox (the last 1 MiB is kept); with --json, one document of lines once the stream has ended'
complete -c msbctl -n "__fish_msbctl_using_subcommand sessions; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and not __fish_seen_subcommand_from fault help" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and not __fish_seen_subcommand_from fault help" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and not __fish_seen_subcommand_from fault help" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and not __fish_seen_subcommand_from fault help" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and not __fish_seen_subcommand_from fault help" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and not __fish_seen_subcommand_from fault help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and not __fish_seen_subcommand_from fault help" -f -a "fault" -d 'Inject a fault into a task (msbd must run with --enable-fault-injection)'
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and not __fish_seen_subcommand_from fault help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and __fish_seen_subcommand_from fault" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and __fish_seen_subcommand_from fault" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and __fish_seen_subcommand_from fault" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and __fish_seen_subcommand_from fault" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and __fish_seen_subcommand_from fault" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and __fish_seen_subcommand_from fault" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and __fish_seen_subcommand_from help" -f -a "fault" -d 'Inject a fault into a task (msbd must run with --enable-fault-injection)'
complete -c msbctl -n "__fish_msbctl_using_subcommand debug; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c msbctl -n "__fish_msbctl_using_subcommand completions" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand completions" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand completions" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand completions" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand completions" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand version" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand version" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand version" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand version" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand version" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand version" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand wait" -l timeout -d 'Give up after this long [default: msbctl\'s --timeout, 30s]' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand wait" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand wait" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand wait" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand wait" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand wait" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand dial-stdio" -l socket -d 'Socket of the daemon [default: /run/msbd/msbd.sock for root, else the user runtime dir]; with --host, the socket on that host' -r -F
complete -c msbctl -n "__fish_msbctl_using_subcommand dial-stdio" -s H -l host -d 'Reach msbd on another host through ssh, which runs msbctl there (MSB_SSH_COMMAND replaces `ssh`, MSB_REMOTE_MSBCTL the remote `msbctl`)' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand dial-stdio" -l timeout -d 'Give up on msbd after this long (not for exec, run, cp, logs --follow, stop and pause, which last as long as their work); exit 3' -r
complete -c msbctl -n "__fish_msbctl_using_subcommand dial-stdio" -l color -d 'Colour states in tables: on a terminal unless NO_COLOR is set (auto), always, never' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Also when piped, and with NO_COLOR'
never\t'Never'"
complete -c msbctl -n "__fish_msbctl_using_subcommand dial-stdio" -l json -d 'Print machine-readable JSON (a stable contract) instead of tables'
complete -c msbctl -n "__fish_msbctl_using_subcommand dial-stdio" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "status" -d 'Show the tasks, their health and a summary of sessions'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "health" -d 'Print overall health in one line; the exit code says it too'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "restart" -d 'Restart unhealthy tasks (every named task with --force); never lifts a pause'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "pause" -d 'Pause tasks at a safe point, as a lease that ends at --for or when CMD exits'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "resume" -d 'Resume paused tasks'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "run" -d 'Run one cycle of a task now (also while paused) and print its report'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "stop" -d 'Stop msbd gracefully: stop tasks and sandboxes, kill what is left at the deadline'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "orphans" -d 'List the sandboxes orphan-cleanup would stop, without stopping them'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "config" -d 'Show msbd\'s effective settings, each with where it came from (default, file, env, flag)'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "events" -d 'Print what happened in msbd lately (task states, cycles, sessions, commands, pauses); with --json, one JSON object per line'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "metrics" -d 'Print msbd\'s metrics in the Prometheus text format'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "sessions" -d 'The session registry'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "debug" -d 'Tools for testing msbd itself'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "completions" -d 'Print a completion script for SHELL'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "version" -d 'Print the versions of msbctl and of the running msbd'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "wait" -d 'Wait until msbd answers and each task has run its first cycle (or is paused); exit 3 at the deadline'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "dial-stdio" -d 'Join stdin and stdout to msbd\'s socket, for `msbctl -H ssh://…` on another host'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and not __fish_seen_subcommand_from status health restart pause resume run stop orphans config events metrics sessions debug completions version wait dial-stdio help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "list" -d 'List sessions, least recently accessed first (a page: in creation order)'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "show" -d 'Show one session (an ended one with its exit and last lines)'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "create" -d 'Create a session and its sandbox'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "touch" -d 'Mark a session as used now, postponing its expiry'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "stop" -d 'Stop a session\'s sandbox and remove the session'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "busy" -d 'Mark a session busy (processing): never expired or evicted until marked idle'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "idle" -d 'Mark a busy session idle again'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "exec" -d 'Run a command in a session: output streams live, and msbctl exits with the command\'s status (128+N for a signal, 124 for a timeout, 3 if msbd is unreachable)'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "run" -d 'Run code in a session with a language\'s interpreter (python, node, shell, or one msbd was given with --language); status as for exec'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "cp" -d 'Copy a file or directory into or out of a session: one side is ID:PATH, as in `docker cp` (into an existing directory, else as the destination)'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from sessions" -f -a "logs" -d 'Print the output of a session\'s sandbox (the last 1 MiB is kept); with --json, one document of lines once the stream has ended'
complete -c msbctl -n "__fish_msbctl_using_subcommand help; and __fish_seen_subcommand_from debug" -f -a "fault" -d 'Inject a fault into a task (msbd must run with --enable-fault-injection)'
