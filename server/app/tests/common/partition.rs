//! A network partition between sluice and a registry server: a TCP relay on
//! its own port that can be cut (every open connection closed, new ones
//! refused) and healed, while the server behind it keeps its state. moto
//! keeps its buckets in memory, so killing it would not be an outage that
//! ends; this is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Partition {
    pub url: String,
    cut: Arc<AtomicBool>,
    cut_tx: watch::Sender<u64>,
    relay: tokio::task::JoinHandle<()>,
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

impl Partition {
    /// A relay on a free loopback port forwarding to `target` (host:port).
    pub async fn relay_to(target: &str) -> Partition {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let cut = Arc::new(AtomicBool::new(false));
        let (cut_tx, _) = watch::channel(0u64);
        let relay = tokio::spawn(accept(listener, target.to_owned(), cut.clone(), cut_tx.subscribe()));
        Partition { url, cut, cut_tx, relay }
    }

    /// Closes every relayed connection and refuses new ones until `heal`.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cut_tx.send_modify(|generation| *generation += 1);
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

async fn accept(listener: TcpListener, target: String, cut: Arc<AtomicBool>, cuts: watch::Receiver<u64>) {
    while let Ok((client, _)) = listener.accept().await {
        if cut.load(Ordering::SeqCst) {
            drop(client); // closed at once: the client sees a reset / EOF
            continue;
        }
        let target = target.clone();
        let mut cuts = cuts.clone();
        cuts.mark_unchanged();
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(&target).await else { return };
            let mut client = client;
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                _ = cuts.changed() => {}
            }
        });
    }
}
