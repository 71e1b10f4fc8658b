//! `run.artifacts` of runs that execute: fetched into the sandbox before
//! the command starts, from `file://` and from a loopback HTTP server,
//! `executable` honoured, tar archives extracted, and anything the sim
//! cannot fetch failing the run with the URI named.

mod common;

use common::jobs::{Api, exec_sim};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// Serves `files` (path, body) over HTTP/1.1 on 127.0.0.1 for `requests`
/// requests (404 for any other path); the base URL.
fn serve(files: Vec<(&'static str, Vec<u8>)>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                    break;
                }
            }
            let target = request.split_whitespace().nth(1).unwrap_or("/");
            let path = target.split('?').next().unwrap_or("/").to_owned();
            let found = files.iter().find(|(p, _)| *p == path);
            let (status, body) = match found {
                Some((_, body)) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"not here".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

#[test]
fn artifacts_are_fetched_from_files_and_loopback_http() {
    let source = tempfile::tempdir().unwrap();
    let tool = source.path().join("tool.sh");
    std::fs::write(&tool, "#!/bin/sh\necho tool ran\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o644)).unwrap();
    let tree = source.path().join("tree");
    std::fs::create_dir_all(tree.join("extracted")).unwrap();
    std::fs::write(tree.join("extracted/inner.txt"), "from the archive\n").unwrap();
    let archive = source.path().join("bundle.tar.gz");
    let tarred = Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(&tree)
        .arg("extracted")
        .status()
        .unwrap();
    assert!(tarred.success());
    let base = serve(
        vec![
            ("/dl/served.txt", b"served over http\n".to_vec()),
            ("/dl/bundle.tar.gz", std::fs::read(&archive).unwrap()),
        ],
        2,
    );

    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job(
        "fetch",
        json!({
            "cmd": "./tool.sh && cat served.txt extracted/inner.txt && \
                    test -x tool.sh && test ! -x served.txt && echo modes ok",
            "artifacts": [
                {"uri": format!("file://{}", tool.display()), "executable": true},
                {"uri": format!("{base}/dl/served.txt?version=1")},
                {"uri": format!("{base}/dl/bundle.tar.gz"), "extract": true},
            ],
        }),
    );
    let run = api.run("fetch");
    let ended = api.wait_end("fetch", &run);
    let task = ended.task();
    assert!(ended.success, "{:?}\n{}", ended, api.read(&task, "stderr"));
    assert_eq!(
        api.read(&task, "stdout"),
        "tool ran\nserved over http\nfrom the archive\nmodes ok\n"
    );
    let notes = api.read(&task, "stderr");
    assert!(
        notes.contains("fetched 'file://") && notes.contains("made executable"),
        "{notes}"
    );
    assert!(
        notes.contains("bundle.tar.gz' (") && notes.contains("extracted"),
        "{notes}"
    );
}

#[test]
fn what_cannot_be_fetched_fails_the_run_naming_the_uri() {
    let base = serve(Vec::new(), 1);
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    let marker = tempfile::tempdir().unwrap();
    let ran = marker.path().join("ran");
    let cases = [
        ("http://192.0.2.1:80/tool", "not a 127.x.y.z address"),
        (
            "https://127.0.0.1:1/tool",
            "only file:/// and http://127.x.y.z:PORT/",
        ),
        (
            "file:///nonexistent/dcos-sim/tool",
            "cannot open /nonexistent/dcos-sim/tool",
        ),
        (&format!("{base}/missing"), "the server answered HTTP 404"),
    ];
    for (index, (uri, why)) in cases.iter().enumerate() {
        let job = format!("fetch-{index}");
        api.add_job(
            &job,
            json!({"cmd": format!("touch {}", ran.display()), "artifacts": [{"uri": uri}]}),
        );
        let run = api.run(&job);
        let ended = api.wait_end(&job, &run);
        assert!(!ended.success, "{uri}");
        let message = ended.message();
        assert!(
            message.starts_with(&format!("Failed to fetch '{uri}': ")) && message.contains(why),
            "{uri}: {message}"
        );
        // The sandbox's stderr says so too, and nothing ran.
        assert!(api.read(&ended.task(), "stderr").contains(&message));
        assert!(!ran.exists(), "{uri}: the command ran");
    }
}

#[test]
fn archives_that_cannot_be_unpacked_are_refused() {
    let source = tempfile::tempdir().unwrap();
    let zip = source.path().join("tool.zip");
    std::fs::write(&zip, b"PK not really").unwrap();
    let sim = exec_sim(None);
    let api = Api::new(&sim);
    api.add_job(
        "zip",
        json!({"cmd": "true", "artifacts": [{"uri": format!("file://{}", zip.display())}]}),
    );
    api.add_job(
        "kept",
        json!({"cmd": "test -f tool.zip",
               "artifacts": [{"uri": format!("file://{}", zip.display()), "extract": false}]}),
    );
    let run = api.run("zip");
    let ended = api.wait_end("zip", &run);
    assert!(
        ended.message().contains("unpacks only tar archives"),
        "{:?}",
        ended
    );
    let run = api.run("kept");
    assert!(api.wait_end("kept", &run).success);
}
