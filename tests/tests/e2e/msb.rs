//! The msb backend against the real `msb` of microsandbox (`tests/msb/install.sh`), each
//! test with an `MSB_HOME` of its own: what runs on every host, booting microVMs or not.
//! What needs a microVM that boots is in `msb_shim`.

use msb_tests::{Daemon, Msb};
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn doctors_verdict_is_in_status_and_health() {
    let Some(msb) = Msb::real() else { return };
    let errors = msb.doctor_errors();
    let daemon = msb.daemon(&[]);
    let status = daemon.status();
    assert_eq!(status["daemon"]["backend"], "msb");
    let backend = &status["backend"];
    assert_eq!(backend["check"], "msb doctor", "{backend}");
    assert!(backend["checked_at"].as_u64().is_some(), "{backend}");
    let health = daemon.ctl(&["health"]);
    match errors {
        None => {
            assert_eq!(backend["health"], "healthy", "{backend}");
            assert_eq!(backend["reason"], Value::Null);
            assert!(!health.stdout.contains("backend"), "{health:?}");
        }
        Some(errors) => {
            assert_eq!(backend["health"], "degraded", "{backend}");
            assert_eq!(status["overall"], "degraded");
            let reason = backend["reason"].as_str().expect("a reason");
            assert!(
                errors.iter().any(|error| reason.contains(error.as_str())),
                "{reason} is none of doctor's errors {errors:?}"
            );
            assert_eq!(health.code, 1, "{health:?}");
            assert!(health.stdout.contains(reason), "{health:?}");
            let shown = daemon.ctl(&["status"]).stdout;
            assert!(
                shown.contains(&format!("backend: degraded: msb doctor: {reason}")),
                "{shown}"
            );
        }
    }
    daemon.finish();
}

#[test]
fn a_create_where_doctor_fails_is_refused_with_its_reason_and_leaves_nothing() {
    let Some(real) = Msb::real() else { return };
    // The real one where doctor fails here; elsewhere its recorded failure, replayed.
    let msb = match real.doctor_errors() {
        Some(_) => real,
        None => {
            eprintln!("msb doctor passes here: the refusal is checked against its recorded failure (tests/msb/fixtures)");
            let shim = Msb::shim();
            std::fs::write(shim.home.path().join("doctor-fails"), "").expect("steer the shim");
            shim
        }
    };
    let rootfs = tempfile::tempdir().expect("tempdir");
    let image = format!("default=image:{}", rootfs.path().display());
    let daemon = msb.daemon(&["--template", &image]);
    let reason = daemon.status()["backend"]["reason"]
        .as_str()
        .expect("doctor's reason")
        .to_string();
    let run = daemon.ctl(&["--json", "sessions", "create", "--id", "refused"]);
    assert_eq!(run.code, 1, "{run:?}");
    let error = &run.json()["error"];
    assert_eq!(error["code"], "backend", "{run:?}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("msb doctor says this host cannot boot microVMs")
            && message.contains(&reason),
        "{message}"
    );
    assert!(daemon.session_ids(&["--ended"]).is_empty());
    assert!(msb.sandboxes().is_empty(), "{:?}", msb.sandboxes());
    daemon.finish();
}

#[test]
fn ended_sandboxes_of_this_instance_are_orphans_that_orphan_cleanup_removes() {
    let Some(msb) = Msb::real() else { return };
    let daemon = msb.daemon(&[]);
    let instance = daemon.instance();
    let rootfs = tempfile::tempdir().expect("tempdir");
    let image = rootfs.path().display().to_string();
    let ours = format!("msb-ghost-{}", &instance[..6]);
    let made: [(&str, Vec<String>); 3] = [
        (
            &ours,
            vec![
                format!("msbd.instance={instance}"),
                "msbd.session=ghost".into(),
            ],
        ),
        ("unlabelled", Vec::new()),
        (
            "another-instance",
            vec![
                "msbd.instance=0123456789abcdef0123456789abcdef".into(),
                "msbd.session=ghost".into(),
            ],
        ),
    ];
    // A boot takes a while to fail where microVMs cannot run: all three at once.
    std::thread::scope(|scope| {
        for (name, labels) in &made {
            let (msb, image) = (&msb, &image);
            scope.spawn(move || {
                // A boot that fails leaves the sandbox `Stopped`, as msb does; one that
                // works leaves it running. Either is a sandbox msbd must judge by its labels.
                msb.create(image, name, labels);
            });
        }
    });
    let all: BTreeSet<String> = made.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(msb.names(), all, "{:?}", msb.sandboxes());
    let orphans = daemon.json(&["orphans"]);
    let listed: Vec<(&str, &str)> = orphans
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            (
                o["sandbox"].as_str().unwrap_or_default(),
                o["session_id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(listed, [(ours.as_str(), "ghost")], "{orphans}");
    let report = daemon.json(&["run", "orphan-cleanup"]);
    assert_eq!(report["outcome"], "ok", "{report}");
    let counts = &report["counts"];
    let removed = counts["stopped"].as_u64().unwrap_or(0) + counts["debris"].as_u64().unwrap_or(0);
    assert_eq!(removed, 1, "{report}");
    let left: BTreeSet<String> = ["unlabelled", "another-instance"].map(String::from).into();
    assert_eq!(msb.names(), left, "{:?}", msb.sandboxes());
    assert_eq!(daemon.json(&["orphans"]), serde_json::json!([]));
    daemon.finish();
    assert_eq!(msb.names(), left, "a shutdown leaves them too");
}

#[test]
fn msbd_without_msb_exits_78_naming_msb_path_before_binding() {
    for (args, env) in [
        (vec!["--backend", "msb"], vec![("PATH", "/nonexistent")]),
        (vec![], vec![("MSB_BACKEND", "msb"), ("PATH", "")]),
        (
            vec!["--backend", "msb", "--msb-path", "/nonexistent/msb"],
            vec![],
        ),
    ] {
        let mut daemon = Daemon::unstarted();
        let mut cmd = daemon.command(&args);
        cmd.envs(env.iter().copied());
        daemon.launch_unwaited(cmd);
        assert_eq!(daemon.wait_exit(), 78, "{args:?} {env:?}: {}", daemon.log());
        let log = daemon.log();
        assert!(
            log.contains("--msb-path") && log.contains("pip install microsandbox"),
            "{log}"
        );
        assert!(!daemon.socket.exists(), "it bound its socket");
    }
}

#[test]
fn images_are_for_the_msb_backend_and_template_options_for_the_process_backend() {
    let check = |args: &[&str]| {
        let mut daemon = Daemon::unstarted();
        let mut all = vec!["--check-config"];
        all.extend_from_slice(args);
        let cmd = daemon.command(&all);
        daemon.launch_unwaited(cmd);
        (daemon.wait_exit(), daemon.log())
    };
    let (code, log) = check(&["--template", "py=image:python:3.12"]);
    assert_eq!(code, 78, "{log}");
    assert!(
        log.contains("invalid --template 'py=image:python:3.12'") && log.contains("--backend msb"),
        "{log}"
    );
    let shim = Msb::shim().path.display().to_string();
    let msb = ["--backend", "msb", "--msb-path", &shim];
    let (code, log) = check(&[&msb[..], &["--template", "py=image:python:3.12"]].concat());
    assert_eq!(code, 0, "{log}");
    let (code, log) = check(&[&msb[..], &["--template", "py=image:"]].concat());
    assert_eq!(code, 78, "{log}");
    let (code, log) = check(&[&msb[..], &["--template-option", "default:user=root"]].concat());
    assert_eq!(code, 78, "{log}");
    assert!(
        log.contains("invalid --template-option") && log.contains("msb backend"),
        "{log}"
    );
}

#[test]
fn the_default_template_needs_an_image_on_the_msb_backend() {
    let msb = Msb::shim();
    let daemon = msb.daemon(&[]);
    let run = daemon.ctl(&["sessions", "create"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("template 'default' names no image")
            && run.stderr.contains("--template default=image:REF"),
        "{run:?}"
    );
    assert!(
        msb.calls().iter().all(|call| call[0] != "create"),
        "{:?}",
        msb.calls()
    );
    assert!(msb.sandboxes().is_empty(), "{:?}", msb.sandboxes());
    daemon.finish();
}
