//! Local sockets: a free port, whether something listens, a listener that never answers,
//! and HTTP written by hand for what an HTTP client will not send (`..` in a path, a
//! request cut in half).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A port nothing listens on right now (the OS picks it; it is closed again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free local port")
}

/// Whether a TCP connection to `127.0.0.1:port` is accepted.
pub async fn accepts_connections(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}

/// How long the app may take to answer on a raw connection before the test fails.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

/// A port that accepts connections and never says a word, for as long as the test's
/// runtime lives.
pub async fn silent_listener() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let port = listener.local_addr().expect("bound address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

/// One HTTP/1.1 connection driven byte by byte.
pub struct RawConnection {
    stream: TcpStream,
    /// Bytes read past the end of a response head, kept for the next read.
    unread: Vec<u8>,
}

impl RawConnection {
    pub async fn open(port: u16) -> RawConnection {
        RawConnection {
            stream: TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect to the app"),
            unread: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .write_all(bytes.as_ref())
            .await
            .expect("send to the app");
    }

    /// Reads more of what the app sends; 0 when it has closed the connection.
    async fn fill(&mut self) -> usize {
        let mut chunk = [0; 8192];
        let read = tokio::time::timeout(ANSWER_WITHIN, self.stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read from the app");
        self.unread.extend_from_slice(&chunk[..read]);
        read
    }

    /// Reads up to the blank line that ends a response head (an interim `100 Continue`
    /// or the final answer's status line and headers).
    pub async fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = self.unread.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.unread.drain(..end + 4).collect();
                return String::from_utf8_lossy(&head).into_owned();
            }
            assert!(
                self.fill().await > 0,
                "the app closed the connection mid-head: {}",
                String::from_utf8_lossy(&self.unread)
            );
        }
    }

    /// One whole response on a kept-alive connection: its head and the body its
    /// `Content-Length` announces.
    pub async fn read_response(&mut self) -> String {
        let head = self.read_head().await;
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while self.unread.len() < length {
            assert!(
                self.fill().await > 0,
                "the app closed the connection mid-body"
            );
        }
        let body: Vec<u8> = self.unread.drain(..length).collect();
        head + &String::from_utf8_lossy(&body)
    }

    /// `GET path` on this connection, kept alive; the whole response.
    pub async fn get(&mut self, path: &str) -> String {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"))
            .await;
        self.read_response().await
    }

    /// Waits for the app to close the connection: how long that took, or what happened
    /// instead within `limit`.
    pub async fn closed_within(&mut self, limit: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        let mut chunk = [0; 1024];
        match tokio::time::timeout(limit, self.stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => Ok(started.elapsed()),
            Ok(Ok(n)) => Err(format!(
                "unexpected data: {}",
                String::from_utf8_lossy(&chunk[..n])
            )),
            Err(_) => Err(format!("still open after {limit:?}")),
        }
    }

    /// Everything the app sends until it closes the connection.
    pub async fn read_to_end(mut self) -> String {
        tokio::time::timeout(ANSWER_WITHIN, self.stream.read_to_end(&mut self.unread))
            .await
            .expect("an answer in time")
            .expect("read from the app");
        String::from_utf8_lossy(&self.unread).into_owned()
    }
}

/// `GET path` sent exactly as written (HTTP clients normalise `..` away); the whole answer.
pub async fn raw_get(port: u16, path: &str) -> String {
    let mut connection = RawConnection::open(port).await;
    connection
        .send(format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ))
        .await;
    connection.read_to_end().await
}
