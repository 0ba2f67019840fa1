//! Test support: one moto S3 server per test process, raw HTTP to it (to create buckets and
//! damage objects behind the client's back), a proxy that can be killed mid-request, and
//! remotes of each kind.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cfgvault_remote::{Key, Remote, RemoteOptions};

struct Moto {
    port: u16,
    // Held so that the server's standard input closes, and it exits, when this process does.
    _child: Child,
    _stdin: ChildStdin,
}

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
static BUCKETS: AtomicUsize = AtomicUsize::new(0);

/// The port of this process's S3 server, started on first use.
pub fn moto_port() -> u16 {
    let moto = MOTO.get_or_init(start_moto);
    match moto {
        Ok(m) => m.port,
        Err(e) => panic!("{e}"),
    }
}

fn start_moto() -> Result<Moto, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/s3_server.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not run {python} {}: {e}", script.display()))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let port = line.trim().parse().map_err(|_| {
        format!(
            "the S3 test server did not start (is moto installed? `pip install 'moto[server]'`; \
             .ci/run installs it); it printed {line:?}"
        )
    })?;
    Ok(Moto {
        port,
        _child: child,
        _stdin: stdin,
    })
}

/// One HTTP/1.1 request, unsigned (moto accepts it): status and body.
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the S3 server");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("send");
    s.write_all(body).expect("send");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read");
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let mut body = resp[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let len = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if len == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + len]);
        b = &b[eol + 2 + len + 2..];
    }
}

/// Where a test remote lives.
pub enum Place {
    File(tempfile::TempDir),
    S3 { bucket: String, port: u16 },
}

pub struct TestRemote {
    pub place: Place,
    pub url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    S3,
}

pub const KINDS: [Kind; 2] = [Kind::File, Kind::S3];

/// A new, empty remote of `kind`.
pub fn new_remote(kind: Kind) -> TestRemote {
    match kind {
        Kind::File => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("file://{}", dir.path().join("remote").display());
            TestRemote {
                place: Place::File(dir),
                url,
            }
        }
        Kind::S3 => {
            let port = moto_port();
            let n = BUCKETS.fetch_add(1, Ordering::SeqCst);
            let bucket = format!("cfgvault-test-{}-{n}", std::process::id());
            let (status, body) = http(port, "PUT", &format!("/{bucket}"), b"");
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            TestRemote {
                url: format!("s3://{bucket}/team/configs"),
                place: Place::S3 { bucket, port },
            }
        }
    }
}

impl TestRemote {
    /// The S3 bucket (empty for a directory).
    pub fn bucket(&self) -> &str {
        match &self.place {
            Place::S3 { bucket, .. } => bucket,
            Place::File(_) => "",
        }
    }

    pub fn options(&self, key: Option<&str>, grace: Duration) -> RemoteOptions {
        let port = match &self.place {
            Place::S3 { port, .. } => *port,
            Place::File(_) => 0,
        };
        self.options_via(key, grace, port)
    }

    /// Options reaching the S3 server through `port` (a proxy's, say).
    pub fn options_via(&self, key: Option<&str>, grace: Duration, port: u16) -> RemoteOptions {
        let mut o = RemoteOptions::default();
        o.key = key.map(|k| Key::from_secret(k.as_bytes()));
        o.grace = grace;
        if let Place::S3 { .. } = self.place {
            o.s3 = BTreeMap::from([
                (
                    "aws_endpoint_url".into(),
                    format!("http://127.0.0.1:{port}"),
                ),
                ("aws_allow_http".into(), "true".into()),
                ("aws_region".into(), "us-east-1".into()),
                ("aws_access_key_id".into(), "test".into()),
                ("aws_secret_access_key".into(), "test".into()),
            ]);
        }
        o
    }

    pub fn open(&self, key: Option<&str>) -> Remote {
        self.try_open(key).expect("open remote")
    }

    pub fn try_open(&self, key: Option<&str>) -> cfgvault_remote::Result<Remote> {
        Remote::open_with(&self.url, &self.options(key, Duration::from_secs(3600)))
    }

    /// Every object's name below the remote's URL.
    pub fn objects(&self) -> Vec<String> {
        match &self.place {
            Place::File(dir) => {
                let root = dir.path().join("remote");
                let mut out = Vec::new();
                let mut stack = vec![root.clone()];
                while let Some(d) = stack.pop() {
                    for e in std::fs::read_dir(&d).expect("read dir") {
                        let p = e.expect("entry").path();
                        if p.is_dir() {
                            stack.push(p);
                        } else if let Ok(rel) = p.strip_prefix(&root) {
                            out.push(rel.to_string_lossy().to_string());
                        }
                    }
                }
                out.sort();
                out
            }
            Place::S3 { bucket, port } => {
                let (status, body) = http(
                    *port,
                    "GET",
                    &format!("/{bucket}?list-type=2&prefix=team/configs/"),
                    b"",
                );
                assert_eq!(status, 200);
                let text = String::from_utf8_lossy(&body).to_string();
                let mut out: Vec<String> = text
                    .split("<Key>")
                    .skip(1)
                    .filter_map(|s| s.split("</Key>").next())
                    .map(|k| k.trim_start_matches("team/configs/").to_string())
                    .collect();
                out.sort();
                out
            }
        }
    }

    pub fn read_raw(&self, name: &str) -> Vec<u8> {
        match &self.place {
            Place::File(dir) => std::fs::read(dir.path().join("remote").join(name)).expect("read"),
            Place::S3 { bucket, port } => {
                use object_store::ObjectStore;
                let (s3, runtime) = s3_client(bucket, *port);
                let path = object_store::path::Path::from(format!("team/configs/{name}"));
                runtime
                    .block_on(async { s3.get(&path).await?.bytes().await })
                    .expect("read object")
                    .to_vec()
            }
        }
    }

    /// Overwrites an object behind the remote's back (no remote code does that).
    pub fn write_raw(&self, name: &str, bytes: &[u8]) {
        match &self.place {
            Place::File(dir) => {
                std::fs::write(dir.path().join("remote").join(name), bytes).expect("write")
            }
            Place::S3 { bucket, port } => {
                use object_store::ObjectStore;
                let (s3, runtime) = s3_client(bucket, *port);
                let path = object_store::path::Path::from(format!("team/configs/{name}"));
                runtime
                    .block_on(s3.put(&path, bytes.to_vec().into()))
                    .expect("overwrite");
            }
        }
    }
}

/// A client of the test server, for reaching objects behind the remote's back.
fn s3_client(bucket: &str, port: u16) -> (object_store::aws::AmazonS3, tokio::runtime::Runtime) {
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .expect("S3 client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    (s3, runtime)
}

/// A TCP proxy to the S3 server that dies — listener and every connection — the moment a
/// client request whose first line starts with `kill_on` passes through, before forwarding
/// it: the server "killed" in the middle of a push, its storage intact.
pub struct Proxy {
    pub port: u16,
    pub killed: Arc<AtomicBool>,
    /// Requests forwarded (chunks from a client that start with an HTTP method).
    pub requests: Arc<AtomicUsize>,
}

impl Proxy {
    pub fn start(upstream: u16, kill_on: Vec<u8>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let killed = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let k = killed.clone();
        std::thread::spawn(move || {
            while !k.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let mut list = conns.lock().expect("lock");
                for s in [&client, &server] {
                    if let Ok(c) = s.try_clone() {
                        list.push(c);
                    }
                }
                drop(list);
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (k2, conns2, pattern) = (k.clone(), conns.clone(), kill_on.clone());
                let counter = counter.clone();
                std::thread::spawn(move || {
                    pump(client, server, Some((pattern, k2, conns2, counter)));
                });
                std::thread::spawn(move || pump(s2, c2, None));
            }
            // Dropping the listener refuses every later connection.
        });
        Proxy {
            port,
            killed,
            requests,
        }
    }
}

type Kill = (
    Vec<u8>,
    Arc<AtomicBool>,
    Arc<Mutex<Vec<TcpStream>>>,
    Arc<AtomicUsize>,
);

fn pump(mut from: TcpStream, mut to: TcpStream, kill: Option<Kill>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((_, _, _, counter)) = &kill
            && [&b"GET "[..], b"PUT ", b"HEAD ", b"DELETE ", b"POST "]
                .iter()
                .any(|m| buf[..n].starts_with(m))
        {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        if let Some((pattern, killed, conns, _)) = &kill
            && !pattern.is_empty()
            && buf[..n]
                .windows(pattern.len())
                .any(|w| w == pattern.as_slice())
        {
            killed.store(true, Ordering::SeqCst);
            for c in conns.lock().expect("lock").iter() {
                let _ = c.shutdown(Shutdown::Both);
            }
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

pub fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
