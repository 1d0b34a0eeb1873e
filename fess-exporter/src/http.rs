//! The HTTP server: tiny_http behind a small guard.
//!
//! tiny_http reads requests with no time limit, no header size limit and a thread per
//! connection. So the public TCP port is served by a guard that caps concurrent connections,
//! reads one request head within a deadline and a size cap, refuses bodies, and passes the head
//! (with `Connection: close`) to tiny_http over a Unix socket in a private folder; tiny_http's
//! answer is copied back with a write timeout. A fixed pool of workers answers tiny_http's
//! requests, so a slow client can hold at most one guard thread, never a worker.
//!
//! Probes are answered whatever the scrapers do. Three stages, each bounded on its own:
//! - a connection holds a *place* only while it sends its request head. There are
//!   [`HEAD_PLACES_PER_SLOT`] per slot; at the cap a new connection takes the place of the one
//!   that has waited longest (told 503), so a slow-header flood cannot keep out a probe, which
//!   sends its head at once;
//! - `/livez` and `/readyz` are then answered by the guard itself: they never wait for a slot
//!   nor queue behind `/metrics` at tiny_http's workers;
//! - any other request needs one of `max_connections` *slots* while tiny_http answers it; with
//!   every slot busy (many scrapers, fast or slow) it is told 503 at once. A single cap for
//!   the whole connection let fast scrapers, whose heads were already read and so could not be
//!   evicted, fill it and turn probes away.
//!
//! With a web configuration ([`WebConfig`]) the guard also speaks TLS (the handshake is bounded
//! by the same deadline as the head) and asks for basic authentication: tiny_http only ever
//! sees checked requests, without their credentials.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fess::sync::MutexExt;

use anyhow::Context;

use crate::web_config::WebConfig;

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Places for connections still sending their request head, per slot: enough that clients
/// sending their heads at once (as probes and scrapers do) do not fill them even in the
/// hundreds, few enough to bound the threads a slow-header flood holds.
pub const HEAD_PLACES_PER_SLOT: usize = 8;

/// Paths the guard answers itself: cheap, and they must get through whatever the scrapers do.
const PROBES: [&str; 2] = ["/livez", "/readyz"];

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Threads answering requests.
    pub workers: usize,
    /// Requests other than probes served at once (more are told 503); connections sending
    /// their request head may be [`HEAD_PLACES_PER_SLOT`] times as many (past that a new one
    /// replaces the one waiting longest).
    pub max_connections: usize,
    /// Time a client has to send its request head, and each write of the answer may take.
    pub timeout: Duration,
    /// TLS and basic authentication (`--web.config.file`).
    pub web: Option<Arc<WebConfig>>,
    /// `/livez` and `/readyz` answer without credentials.
    pub open_probes: bool,
}

impl HttpConfig {
    fn tls(&self) -> bool {
        self.web.as_ref().is_some_and(|w| w.tls.is_some())
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }
}

/// Answers a request given its method and URL (path and query).
pub type Handler = Arc<dyn Fn(&str, &str) -> Reply + Send + Sync>;

/// The running server; [`HttpServer::stop`] ends it.
pub struct HttpServer {
    addr: SocketAddr,
    tls: bool,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    private_dir: PathBuf,
}

impl HttpServer {
    pub fn start(cfg: HttpConfig, handler: Handler) -> anyhow::Result<HttpServer> {
        let listener = TcpListener::bind(cfg.listen)
            .with_context(|| format!("listening on {} (--listen)", cfg.listen))?;
        // std listens with a backlog of 128: a couple of hundred clients connecting at once
        // overflow it, and the kernel then drops SYNs, delaying a probe's connect by seconds.
        // Listening again raises it (the kernel clamps it to net.core.somaxconn), so they wait
        // to be accepted instead.
        // SAFETY: listen on a socket we own, which is valid and bound.
        if unsafe { libc::listen(listener.as_raw_fd(), i32::MAX) } != 0 {
            return Err(io::Error::last_os_error()).context("raising the listen backlog");
        }
        let addr = listener.local_addr()?;
        let private_dir = std::env::temp_dir().join(format!(
            "fess-exporter-{}-{}",
            std::process::id(),
            addr.port()
        ));
        let _ = std::fs::remove_dir_all(&private_dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&private_dir)
            .with_context(|| format!("creating {}", private_dir.display()))?;
        let inner_path = private_dir.join("http.sock");
        let inner = UnixListener::bind(&inner_path)
            .with_context(|| format!("binding {}", inner_path.display()))?;
        let server = Arc::new(
            tiny_http::Server::from_listener(inner, None)
                .map_err(|e| anyhow::anyhow!("starting tiny_http: {e}"))?,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..cfg.workers.max(1) {
            let (server, stop, handler) = (server.clone(), stop.clone(), handler.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("http-worker-{i}"))
                    .spawn(move || work(&server, &stop, &handler))?,
            );
        }
        let accept_stop = stop.clone();
        let tls = cfg.tls();
        threads.push(
            std::thread::Builder::new()
                .name("http-accept".into())
                .spawn(move || accept(listener, &inner_path, &cfg, &handler, &accept_stop))?,
        );
        Ok(HttpServer {
            addr,
            tls,
            stop,
            threads,
            private_dir,
        })
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// Where it listens (with the port chosen when `--listen` said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets the workers finish, removes the private folder.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for t in self.threads {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.private_dir);
    }
}

fn work(server: &tiny_http::Server, stop: &AtomicBool, handler: &Handler) {
    while !stop.load(Ordering::Relaxed) {
        let rq = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(rq)) => rq,
            Ok(None) => continue,
            Err(_) => return,
        };
        let reply = handler(rq.method().as_str(), rq.url());
        let header = tiny_http::Header::from_bytes("Content-Type", reply.content_type)
            .expect("content types are valid header values");
        let response = tiny_http::Response::from_data(reply.body)
            .with_status_code(reply.status)
            .with_header(header);
        // A client that went away is not our problem.
        let _ = rq.respond(response);
    }
}

/// A connection's place while it sends its head: freed once, by its thread or by an eviction.
struct Place(Arc<AtomicBool>);

impl Place {
    fn free(&self, heads: &AtomicUsize) {
        if self.0.swap(false, Ordering::SeqCst) {
            heads.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Connections still sending their request head, oldest first (a copy of each socket, to close
/// it from the accept thread).
#[derive(Default)]
struct Waiting {
    next_id: u64,
    conns: VecDeque<(u64, TcpStream, Place)>,
}

impl Waiting {
    fn add(waiting: &Mutex<Waiting>, tcp: &TcpStream, place: &Place) -> Option<u64> {
        let copy = tcp.try_clone().ok()?;
        let mut w = waiting.locked();
        let id = w.next_id;
        w.next_id += 1;
        w.conns.push_back((id, copy, Place(place.0.clone())));
        Some(id)
    }

    fn remove(waiting: &Mutex<Waiting>, id: Option<u64>) {
        let mut w = waiting.locked();
        w.conns.retain(|(i, _, _)| Some(*i) != id);
    }

    /// Closes the connection that has waited longest for its head, freeing its place at once
    /// (told 503 in plain HTTP; over TLS, only closed); false when there is none.
    fn evict_oldest(waiting: &Mutex<Waiting>, heads: &AtomicUsize, tls: bool) -> bool {
        let oldest = waiting.locked().conns.pop_front();
        let Some((_, tcp, place)) = oldest else {
            return false;
        };
        place.free(heads);
        if !tls {
            // Its send buffer is empty (it has been sent nothing): this write does not block.
            let _ = tcp.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = refuse(&mut &tcp, 503);
        }
        let _ = tcp.shutdown(std::net::Shutdown::Both);
        true
    }
}

/// One of the slots for requests tiny_http answers, given back on drop.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    fn take(taken: &'a AtomicUsize, max: usize) -> Option<Slot<'a>> {
        taken
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(taken))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a connection's thread needs besides its socket.
struct Conn {
    inner: PathBuf,
    timeout: Duration,
    handler: Handler,
    slots: Arc<AtomicUsize>,
    max_slots: usize,
    web: Option<Arc<WebConfig>>,
    open_probes: bool,
}

fn accept(
    listener: TcpListener,
    inner: &Path,
    cfg: &HttpConfig,
    handler: &Handler,
    stop: &AtomicBool,
) {
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    let (heads, slots) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let max_heads = cfg.max_connections.saturating_mul(HEAD_PLACES_PER_SLOT);
    let lingering = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(tcp) = conn else {
            // Out of descriptors or the like: do not spin.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if heads.load(Ordering::SeqCst) >= max_heads
            && !Waiting::evict_oldest(&waiting, &heads, cfg.tls())
        {
            if !cfg.tls() {
                let _ = tcp.set_write_timeout(Some(cfg.timeout));
                let _ = refuse(&mut &tcp, 503);
            }
            continue;
        }
        heads.fetch_add(1, Ordering::SeqCst);
        let place = Place(Arc::new(AtomicBool::new(true)));
        let id = Waiting::add(&waiting, &tcp, &place);
        let own = Place(place.0.clone());
        let conn = Conn {
            inner: inner.to_path_buf(),
            timeout: cfg.timeout,
            handler: handler.clone(),
            slots: slots.clone(),
            max_slots: cfg.max_connections,
            web: cfg.web.clone(),
            open_probes: cfg.open_probes,
        };
        let (done, waiting_in) = (heads.clone(), waiting.clone());
        let (lingering, max) = (lingering.clone(), cfg.max_connections);
        let spawned = std::thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                let head_read = || {
                    Waiting::remove(&waiting_in, id);
                    place.free(&done);
                };
                let _ = serve(&tcp, &conn, head_read);
                // After an early return (no head): counted free before the client sees the
                // connection close.
                head_read();
                // At most as many lingering as served: past that, closed at once.
                if lingering.fetch_add(1, Ordering::SeqCst) < max {
                    linger(&tcp);
                }
                lingering.fetch_sub(1, Ordering::SeqCst);
                drop(tcp);
            });
        if spawned.is_err() {
            Waiting::remove(&waiting, id);
            own.free(&heads);
        }
    }
}

/// Closes gently: closing with request bytes unread (a refused large head) would reset the
/// connection and could destroy the answer before the client reads it. Bounded in time and size.
fn linger(tcp: &TcpStream) {
    let _ = tcp.shutdown(std::net::Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 4096];
    for _ in 0..16 {
        if !matches!((&*tcp).read(&mut buf), Ok(n) if n > 0) {
            return;
        }
    }
}

/// Writes `reply` (without its body for HEAD) and closes the exchange.
fn write_reply(out: &mut impl Write, reply: &Reply, with_body: bool) -> io::Result<()> {
    let mut bytes = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        reply.status,
        tiny_http::StatusCode(reply.status).default_reason_phrase(),
        reply.content_type,
        reply.body.len(),
        if reply.status == 401 {
            "WWW-Authenticate: Basic realm=\"fess-exporter\", charset=\"UTF-8\"\r\n"
        } else {
            ""
        }
    )
    .into_bytes();
    if with_body {
        bytes.extend_from_slice(&reply.body);
    }
    out.write_all(&bytes)?;
    out.flush()
}

/// Answers `status` with its reason phrase as the body.
fn refuse(out: &mut impl Write, status: u16) -> io::Result<()> {
    let reason = tiny_http::StatusCode(status).default_reason_phrase();
    write_reply(out, &Reply::text(status, format!("{reason}\n")), true)
}

/// What to do with a request head.
#[derive(Debug, PartialEq)]
enum Head {
    /// Forward this (rewritten) head to tiny_http; `authorization` is the credentials it came
    /// with, taken out of the head.
    Forward {
        head: Vec<u8>,
        authorization: Option<String>,
    },
    /// A probe (one of [`PROBES`]): the guard answers it.
    Probe {
        method: String,
        url: String,
        authorization: Option<String>,
    },
    /// Answer with this status, and close.
    Refuse(u16),
}

/// Checks a complete head: GET or HEAD, ASCII, no body; and makes it `Connection: close`.
fn check_head(head: &[u8]) -> Head {
    let Ok(text) = std::str::from_utf8(head) else {
        return Head::Refuse(400);
    };
    let mut lines = text.trim_end_matches("\r\n").split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default();
    let url = parts.next().unwrap_or_default();
    if method != "GET" && method != "HEAD" {
        return Head::Refuse(405);
    }
    let mut out = format!("{request_line}\r\n");
    let mut authorization = None;
    for line in lines {
        let name = line
            .split_once(':')
            .map_or("", |(n, _)| n)
            .trim()
            .to_ascii_lowercase();
        if name == "authorization" {
            authorization = line.split_once(':').map(|(_, v)| v.trim().to_string());
            continue;
        }
        let body = match name.as_str() {
            "content-length" => line.split_once(':').is_some_and(|(_, v)| v.trim() != "0"),
            "transfer-encoding" => true,
            _ => false,
        };
        if body {
            return Head::Refuse(400);
        }
        if name != "connection" {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let path = url.split(['?', '#']).next().unwrap_or_default();
    if PROBES.contains(&path) {
        return Head::Probe {
            method: method.into(),
            url: url.into(),
            authorization,
        };
    }
    Head::Forward {
        head: out.into_bytes(),
        authorization,
    }
}

/// Serves one connection, over TLS when the web configuration says so.
fn serve(tcp: &TcpStream, conn: &Conn, head_read: impl FnOnce()) -> io::Result<()> {
    let Some(acceptor) = conn.web.as_ref().and_then(|w| w.tls.as_ref()) else {
        return guard(&mut &*tcp, tcp, conn, head_read);
    };
    // The handshake counts against the head's deadline: set here, tightened by the guard.
    tcp.set_read_timeout(Some(conn.timeout))?;
    tcp.set_write_timeout(Some(conn.timeout))?;
    // A client that cannot finish the handshake (no certificate, an untrusted one, plain
    // HTTP) is simply closed: TLS itself told it why.
    let Ok(mut tls) = acceptor.accept(tcp.try_clone()?) else {
        return Ok(());
    };
    let served = guard(&mut tls, tcp, conn, head_read);
    let _ = tls.shutdown();
    served
}

/// Serves one request on `io` (the connection `tcp`, or TLS over it): one request head within
/// the timeout (then `head_read()`: it gives back its place and can no longer be evicted),
/// then the answer: a probe's from the handler at once, any other from tiny_http if a slot is
/// free; without the credentials the web configuration asks for, 401.
fn guard(
    io: &mut (impl Read + Write),
    tcp: &TcpStream,
    conn: &Conn,
    head_read: impl FnOnce(),
) -> io::Result<()> {
    let timeout = conn.timeout;
    let deadline = Instant::now() + timeout;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    tcp.set_write_timeout(Some(timeout))?;
    let end = loop {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return refuse(io, 408);
        };
        tcp.set_read_timeout(Some(left))?;
        match io.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return refuse(io, 408)
            }
            Err(e) => return Err(e),
        }
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > MAX_HEAD_BYTES {
            return refuse(io, 431);
        }
    };
    head_read();
    if end > MAX_HEAD_BYTES {
        return refuse(io, 431);
    }
    let auth = conn.web.as_ref().and_then(|w| w.auth.as_ref());
    let allowed =
        |authorization: &Option<String>| auth.is_none_or(|a| a.allows(authorization.as_deref()));
    let head = match check_head(&head[..end]) {
        Head::Forward {
            head,
            authorization,
        } if allowed(&authorization) => head,
        Head::Probe {
            method,
            url,
            authorization,
        } if conn.open_probes || allowed(&authorization) => {
            return write_reply(io, &(conn.handler)(&method, &url), method != "HEAD")
        }
        Head::Forward { .. } | Head::Probe { .. } => return refuse(io, 401),
        Head::Refuse(status) => return refuse(io, status),
    };
    let Some(_slot) = Slot::take(&conn.slots, conn.max_slots) else {
        return refuse(io, 503);
    };
    let mut up = UnixStream::connect(&conn.inner)?;
    up.set_read_timeout(Some(timeout))?;
    up.set_write_timeout(Some(timeout))?;
    up.write_all(&head)?;
    io::copy(&mut up, io)?;
    io.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_checked_and_closed() {
        let Head::Forward {
            head,
            authorization,
        } = check_head(
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nAccept: */*\r\n\
              Authorization: Basic cHJvbTpwdw==\r\n\r\n",
        )
        else {
            panic!()
        };
        // Credentials are checked by the guard and never forwarded.
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(authorization.as_deref(), Some("Basic cHJvbTpwdw=="));
        let refused: [(&[u8], u16); 5] = [
            (b"POST / HTTP/1.1\r\n\r\n", 405),
            (b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"GET /\xff HTTP/1.1\r\n\r\n", 400),
            (b"POST /livez HTTP/1.1\r\n\r\n", 405),
        ];
        for (head, status) in refused {
            assert_eq!(check_head(head), Head::Refuse(status));
        }
        // Probes are told apart by their path alone.
        for (head, method, url) in [
            ("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/livez"),
            (
                "HEAD /readyz?verbose HTTP/1.0\r\n\r\n",
                "HEAD",
                "/readyz?verbose",
            ),
        ] {
            let probe = Head::Probe {
                method: method.into(),
                url: url.into(),
                authorization: None,
            };
            assert_eq!(check_head(head.as_bytes()), probe);
        }
        assert!(matches!(
            check_head(b"GET /livez/x HTTP/1.1\r\n\r\n"),
            Head::Forward { .. }
        ));
    }

    proptest::proptest! {
        /// Any head is forwarded closed, answered as a probe, or refused with 400 or 405 (never
        /// a panic).
        #[test]
        fn any_bytes_as_a_request_head(
            head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            text in "(GET|HEAD|POST)? ?\\PC{0,40}(\r\n[A-Za-z-]{0,12}: ?\\PC{0,20}){0,4}\r\n\r\n",
        ) {
            for h in [head.as_slice(), text.as_bytes()] {
                match check_head(h) {
                    Head::Forward { head, .. } => {
                        proptest::prop_assert!(head.ends_with(b"Connection: close\r\n\r\n"))
                    }
                    Head::Probe { method, .. } => {
                        proptest::prop_assert!(method == "GET" || method == "HEAD")
                    }
                    Head::Refuse(status) => proptest::prop_assert!(matches!(status, 400 | 405)),
                }
            }
        }
    }
}
