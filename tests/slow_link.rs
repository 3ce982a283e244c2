//! The S3 store behind a slow link: a request's timeouts grow with the body it sends, so a
//! large object is not cut off at a fixed deadline and retried in vain.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use runner::backend::ObjectStore;
use runner::backend::s3::S3;

use crate::services::{s3_client, s3_config, service, unique};

/// A proxy on 127.0.0.1 in front of `upstream` (`host:port`) that passes what clients send
/// at `rate` bytes a second, and answers at full speed; its URL. It serves until the test
/// process ends.
fn slow_proxy(upstream: String, rate: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut from_client, mut to_server) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let (mut from_server, mut to_client) = (server, client);
            std::thread::spawn(move || {
                let mut chunk = vec![0u8; 16 << 10];
                while let Ok(n) = from_client.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
                    if to_server.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                }
                let _ = to_server.shutdown(Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_server, &mut to_client);
                let _ = to_client.shutdown(Shutdown::Write);
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn a_large_object_on_a_slow_link_gets_the_time_it_needs() {
    let Some(endpoint) = service("RUNNER_TEST_S3S") else {
        return;
    };
    let bucket = unique("slow-");
    s3_client(&endpoint)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let upstream = endpoint.trim_start_matches("http://").to_owned();
    let proxy = slow_proxy(upstream, 512 << 10);
    // The client as a remote target makes it: its default timeouts (10 s an attempt).
    let config = s3_config(&proxy)
        .timeout_config(runner::backend::remote::timeouts(0))
        .build();
    let store = S3::new(aws_sdk_s3::Client::from_conf(config));
    // 6 MiB take 12 s at 512 KiB/s: past the fixed 10 s an attempt had.
    let body = vec![7u8; 6 << 20];
    store
        .put(&bucket, "big", body.clone())
        .await
        .expect("a 6 MiB object through a 512 KiB/s link is stored");
    let stored = store
        .get(&bucket, "big")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(stored, body);
    store.delete(&bucket, "big").await.expect("delete");
    store.delete_bucket(&bucket).await.expect("delete bucket");
}
