//! End-to-end tests: each starts the real `msbd` on its own socket and state dir and drives
//! it with the real `msbctl`. Sandboxes are real processes (or, in the suite's `msb` runs,
//! microsandbox microVMs), and each test checks that none is left when it ends.

mod cli;
mod config;
mod contract;
mod door;
mod events;
mod exec;
mod exits;
mod faults;
mod hostile;
mod hosts;
mod install;
mod isolation;
mod jail;
mod labels;
mod log_format;
mod logs;
mod maintenance;
mod man;
mod metrics;
mod msb;
mod msb_shim;
mod orphans;
mod protocol;
mod resources;
mod restore;
mod sessions;
mod socket;
mod stop;
mod store;
mod suite;
mod systemd;
mod tasks;
mod templates;
mod watch;
