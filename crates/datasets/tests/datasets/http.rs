//! A minimal HTTP/1.1 server on 127.0.0.1 (ephemeral port) for download
//! tests: each path serves fixed bytes with one behaviour, and every
//! request is logged with its Range header.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// How a path answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// 200, or 206 for a Range request.
    Good,
    /// The first request gets the headers and half the body, then the
    /// connection is closed; later requests behave as `Good`.
    DropHalfOnce,
    /// Always 200 with the whole body, whatever the Range.
    IgnoreRange,
    /// 404.
    NotFound,
    /// Reads the request and never answers (the connection stays open).
    Stall,
    /// The first request gets the headers and half the body, then nothing
    /// more on an open connection; later requests behave as `Good`.
    StallHalfOnce,
}

/// One logged request.
#[derive(Clone, Debug)]
pub struct Logged {
    pub path: String,
    pub range: Option<String>,
}

struct Route {
    body: Vec<u8>,
    behaviour: Behaviour,
    hits: usize,
}

/// A running server.
pub struct Server {
    pub base: String,
    log: Arc<Mutex<Vec<Logged>>>,
}

impl Server {
    /// Starts serving `routes` (path, body, behaviour).
    pub fn start(routes: Vec<(&str, Vec<u8>, Behaviour)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: HashMap<String, Route> = routes
            .into_iter()
            .map(|(p, body, behaviour)| {
                (
                    p.to_string(),
                    Route {
                        body,
                        behaviour,
                        hits: 0,
                    },
                )
            })
            .collect();
        let routes = Arc::new(Mutex::new(routes));
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (routes, log) = (routes.clone(), log2.clone());
                std::thread::spawn(move || {
                    let _ = handle(stream, &routes, &log);
                });
            }
        });
        Server { base, log }
    }

    /// URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests so far.
    pub fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }
}

fn handle(
    stream: TcpStream,
    routes: &Mutex<HashMap<String, Route>>,
    log: &Mutex<Vec<Logged>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    log.lock().unwrap().push(Logged {
        path: path.clone(),
        range: range.clone(),
    });
    let (body, behaviour, hit) = {
        let mut r = routes.lock().unwrap();
        match r.get_mut(&path) {
            Some(route) => {
                route.hits += 1;
                (route.body.clone(), route.behaviour, route.hits)
            }
            None => (Vec::new(), Behaviour::NotFound, 1),
        }
    };
    let mut out = stream;
    let start: Option<usize> = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok());
    match behaviour {
        Behaviour::NotFound => {
            write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
        }
        Behaviour::Stall => return hold_until_closed(&mut reader),
        Behaviour::StallHalfOnce if hit == 1 => {
            write_head_and_half(&mut out, &body)?;
            return hold_until_closed(&mut reader);
        }
        Behaviour::DropHalfOnce if hit == 1 => {
            write_head_and_half(&mut out, &body)?;
            out.shutdown(Shutdown::Both)?;
            return Ok(());
        }
        Behaviour::Good | Behaviour::DropHalfOnce | Behaviour::StallHalfOnce if start.is_some() => {
            let s = start.unwrap_or(0);
            if s >= body.len() {
                write!(
                    out,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )?;
            } else {
                write!(
                    out,
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len() - 1,
                    body.len(),
                    body.len() - s
                )?;
                out.write_all(&body[s..])?;
            }
        }
        _ => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            out.write_all(&body)?;
        }
    }
    out.flush()
}

/// A 200 announcing the whole body, then only its first half.
fn write_head_and_half(out: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(&body[..body.len() / 2])?;
    out.flush()
}

/// Sends nothing more and keeps the connection open until the client closes
/// it (its stall timeout fires): waits on the client, not on a clock.
fn hold_until_closed(reader: &mut impl Read) -> std::io::Result<()> {
    let mut buf = [0u8; 256];
    while reader.read(&mut buf)? > 0 {}
    Ok(())
}
