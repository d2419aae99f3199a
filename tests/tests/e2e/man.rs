//! The man pages under man/: generated from msbd's and msbctl's clap definitions (one page
//! per msbctl subcommand), and failing here when they are stale or one is left over.
//! `MSB_UPDATE_MAN=1 cargo test -p msb-tests --test e2e man` writes them again.

use clap::CommandFactory;
use std::collections::BTreeMap;
use std::path::Path;

/// Every page by file name: `msbd.8`, `msbctl.1`, `msbctl-status.1`, `msbctl-sessions-exec.1`…
fn pages() -> BTreeMap<String, Vec<u8>> {
    let mut pages = BTreeMap::new();
    render(msbd::config::Cli::command(), "8", &mut pages);
    render(msbctl::cli::command(), "1", &mut pages);
    pages
}

/// Renders `command`'s page and its visible subcommands' (built first, so each is named
/// after its parents), as `clap_mangen::generate_to` does, into `pages`; every page names
/// the program and version it documents.
fn render(command: clap::Command, section: &str, pages: &mut BTreeMap<String, Vec<u8>>) {
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let source = format!(
        "{} {}",
        command.get_name(),
        command.get_version().unwrap_or_default()
    );
    add(command, section, &source, pages);
}

fn add(command: clap::Command, section: &str, source: &str, pages: &mut BTreeMap<String, Vec<u8>>) {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        add(sub.clone(), section, source, pages);
    }
    let man = clap_mangen::Man::new(command)
        .section(section)
        .source(source);
    let mut page = Vec::new();
    man.render(&mut page).expect("render a man page");
    pages.insert(man.get_filename(), page);
}

#[test]
fn man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("man");
    let pages = pages();
    if std::env::var_os("MSB_UPDATE_MAN").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create man/");
        for (name, page) in &pages {
            std::fs::write(dir.join(name), page).expect("write a man page");
        }
    }
    for (name, page) in &pages {
        let committed = std::fs::read(dir.join(name)).unwrap_or_default();
        assert!(
            &committed == page,
            "man/{name} is stale or missing: regenerate with \
             `MSB_UPDATE_MAN=1 cargo test -p msb-tests --test e2e man`"
        );
    }
    let committed: Vec<String> = std::fs::read_dir(&dir)
        .expect("man/ exists")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .collect();
    for name in committed {
        assert!(
            pages.contains_key(&name),
            "man/{name} belongs to no command any more: regenerate with \
             `MSB_UPDATE_MAN=1 cargo test -p msb-tests --test e2e man`"
        );
    }
    assert!(pages.contains_key("msbd.8") && pages.contains_key("msbctl-sessions-exec.1"));
}
