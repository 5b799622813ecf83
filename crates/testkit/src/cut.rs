//! A TCP proxy a test can cut and restore. Put between an app and a service the test shares
//! with others (DynamoDB Local), it makes the service unreachable for that app alone, for a
//! window the test chooses: pausing the service itself would fail every test running beside.

use std::net::SocketAddr;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::{JoinHandle, JoinSet},
};

/// One proxy on 127.0.0.1 to one target; dropping it closes everything it carries.
#[derive(Debug)]
pub struct CutProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    accepting: JoinHandle<()>,
}

impl CutProxy {
    /// A proxy to `target` (`http://host:port` or `host:port`), carrying traffic until cut.
    pub async fn start(target: &str) -> Self {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (cut, is_cut) = watch::channel(false);
        let accepting = tokio::spawn(accept(listener, target, is_cut));
        Self {
            addr,
            cut,
            accepting,
        }
    }

    /// The proxy's URL, to configure the app with instead of the target's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes every open connection, and each new one as soon as it is accepted, until
    /// [`CutProxy::restore`]: the client sees connections reset, as when a network fails.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        // The accept task owns the connection tasks: aborting it ends them all.
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, target: String, is_cut: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((client, _)) = accepted else {
            continue;
        };
        if *is_cut.borrow() {
            drop(client);
            continue;
        }
        connections.spawn(carry(client, target.clone(), is_cut.clone()));
    }
}

/// Carries one connection both ways until either side closes it or the proxy is cut.
async fn carry(mut client: TcpStream, target: String, mut is_cut: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(&target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = is_cut.wait_for(|cut| *cut) => {}
    }
}
