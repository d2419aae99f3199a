//! The behavioural suite every backend is held to: create, exec, cp, stop, expiry, eviction,
//! restore and orphans, written once. Each behaviour is a function of the backend it runs
//! against; `suite!` makes two tests of each, `suite::process::…` and `suite::msb::…`. The
//! `process` ones run everywhere. The `msb` ones drive msbd with `--backend msb` over the real
//! `msb` of microsandbox, from an image named by `MSB_TEST_IMAGE`, and run only where
//! `msb doctor` passes: elsewhere each says why it is skipped and returns.

mod backend;
mod cp;
mod create;
mod eviction;
mod exec;
mod expiry;
mod lookalikes;
mod orphans;
mod restore;
mod rig;
mod stop;

pub use backend::Backend;
pub use rig::{Rig, Sandbox};

/// One `#[test]` per backend for each behaviour listed, by module.
macro_rules! suite {
    ($($module:ident { $($test:ident),* $(,)? })*) => {
        /// The embedded backend, which needs nothing installed.
        mod process {
            $(mod $module {
                $(#[test]
                fn $test() {
                    crate::suite::$module::$test(&crate::suite::Backend::process());
                })*
            })*
        }

        /// microsandbox's microVMs, where this host can boot them.
        mod msb {
            $(mod $module {
                $(#[test]
                fn $test() {
                    if let Some(backend) = crate::suite::Backend::msb() {
                        crate::suite::$module::$test(&backend);
                    }
                })*
            })*
        }
    };
}

suite! {
    create {
        create_list_show_touch_and_stop_a_session,
    }
    exec {
        output_streams_and_the_exit_code_come_back,
        output_reaches_the_client_while_the_command_runs,
        a_timeout_kills_the_whole_tree_but_not_the_sandbox,
        code_runs_with_its_languages_interpreter,
        concurrent_commands_keep_their_own_output,
        a_client_killed_midway_ends_its_command_and_limits_hold,
        stdin_working_directory_and_the_collect_cap,
        a_client_that_does_not_read_slows_only_its_own_command,
        ctrl_c_cancels_the_command_and_copies_are_bounded,
    }
    cp {
        files_are_copied_in_and_out_and_stay_inside_the_sandbox,
    }
    stop {
        stop_with_well_behaved_sandboxes_is_clean,
        sigterm_shuts_down_the_same_way,
    }
    expiry {
        an_idle_session_expires_and_a_touched_one_survives,
        create_with_a_live_id_returns_that_session_and_an_expired_one_is_replaced,
        a_running_command_keeps_its_session_from_expiring,
        a_busy_session_is_not_expired_until_marked_idle,
        a_busy_mark_left_behind_lapses,
    }
    eviction {
        a_create_over_max_sessions_evicts_the_least_recently_used_idle_session,
        memory_limit_counts_flavors_and_evicts_to_fit,
    }
    restore {
        after_a_crash_every_session_is_adopted_with_its_own_sandbox,
        stop_keep_sandboxes_hands_them_to_the_next_daemon,
    }
    orphans {
        a_sandbox_left_by_a_killed_daemon_is_reaped_and_lookalikes_are_not_touched,
        a_live_session_is_never_taken_for_an_orphan,
        orphans_lists_what_the_next_cycle_stops,
        another_state_dirs_sandboxes_are_never_taken_for_orphans,
    }
}
