//! The client side (`router show ...`): one request, one response.
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::protocol::{Response, WireRequest};

/// Most bytes a client accepts in one response line.
pub const MAX_RESPONSE: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the control socket {}: {source} (is the router running? use --socket PATH)", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("control socket: {0}")]
    Io(#[from] io::Error),
    #[error("control socket: bad response: {0}")]
    Protocol(String),
}

/// Connects with a write timeout; returns the stream and the request line
/// to write.
fn connect(
    path: &Path,
    command: &str,
    args: Map<String, Value>,
    timeout: Duration,
) -> Result<(std::os::unix::net::UnixStream, Vec<u8>), ClientError> {
    let stream =
        std::os::unix::net::UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(&WireRequest {
        command: command.to_string(),
        args,
    })
    .map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push(b'\n');
    Ok((stream, line))
}

/// Sends one request and waits for its response.
pub fn call(
    path: &Path,
    command: &str,
    args: Map<String, Value>,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let (stream, line) = connect(path, command, args, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    // A server that refuses the connection (too many clients) answers and
    // closes without reading: read its answer even if the write failed.
    let written = (&stream).write_all(&line);
    let mut reader = BufReader::new(&stream).take(MAX_RESPONSE as u64);
    let mut buf = Vec::new();
    let read = reader.read_until(b'\n', &mut buf);
    if buf.is_empty() {
        written?;
        read?;
    }
    if buf.last() != Some(&b'\n') {
        return Err(ClientError::Protocol(if buf.is_empty() {
            "connection closed without an answer".into()
        } else {
            "response truncated".into()
        }));
    }
    serde_json::from_slice(&buf).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Sends one streaming request (`monitor drops`): calls `on_event` with each
/// record as it comes, until the stream's end line (returned, with its
/// summary in `data`), an error answer, or `on_event` returning false
/// (then the connection is closed, which ends the stream on the router).
/// There is no read timeout: a stream may be quiet for a long time.
pub fn call_stream(
    path: &Path,
    command: &str,
    args: Map<String, Value>,
    timeout: Duration,
    mut on_event: impl FnMut(&Value) -> bool,
) -> Result<Option<Response>, ClientError> {
    let (stream, line) = connect(path, command, args, timeout)?;
    (&stream).write_all(&line)?;
    let mut reader = BufReader::new(&stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_RESPONSE as u64)
            .read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Err(ClientError::Protocol(
                "connection closed before the end of the stream".into(),
            ));
        }
        let r: Response =
            serde_json::from_slice(&buf).map_err(|e| ClientError::Protocol(e.to_string()))?;
        match &r.event {
            Some(ev) if r.ok => {
                if !on_event(ev) {
                    return Ok(None);
                }
            }
            _ => return Ok(Some(r)),
        }
    }
}
