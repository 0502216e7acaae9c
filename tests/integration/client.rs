//! The SOAP client's own guarantees, through the library against the simulator: task
//! faults arrive typed, datastore files stream both ways with ranges.

use std::time::Duration;

use ceso::vim::{
    self, Client, ConnectOptions, DatastorePath, MoRef, Request, Secret, TlsMode, no_progress,
};
use futures::StreamExt;

use crate::sim::Sim;

async fn connect(sim: &Sim) -> std::sync::Arc<Client> {
    Client::connect(ConnectOptions {
        url: sim.url.clone(),
        user: "user".into(),
        password: Secret::new("pass"),
        tls: TlsMode::Verify,
        connect_timeout: Duration::from_secs(5),
        call_timeout: Duration::from_secs(30),
        ask_password: None,
    })
    .await
    .expect("connect")
}

async fn vm_named(client: &Client, name: &str) -> MoRef {
    let vms = ceso::ops::inventory::objects(client, "VirtualMachine", &[])
        .await
        .unwrap();
    vms.into_iter()
        .find(|o| o.str("name") == Some(name))
        .expect("vm")
        .obj
}

#[test]
fn a_failed_task_is_a_typed_fault() {
    let sim = Sim::vcenter();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = connect(&sim).await;
        let vm = vm_named(&client, "DC0_H0_VM0").await;
        // Already on: the task fails with InvalidPowerState and its states.
        let err = client
            .run_task(
                Request::new("PowerOnVM_Task", &vm),
                Duration::from_secs(10),
                &no_progress,
            )
            .await
            .expect_err("powering on a running VM fails");
        assert!(err.is_fault("InvalidPowerState"), "{err}");
        assert!(err.to_string().contains("poweredOn"), "{err}");
        // A fault from a method call (not a task) has the same shape.
        let gone = MoRef::new("VirtualMachine", "vm-does-not-exist");
        let err = client
            .properties(&gone, &["name"])
            .await
            .expect_err("no such VM");
        assert!(matches!(err, vim::Error::Fault { .. }), "{err}");
    });
}

#[test]
fn datastore_files_upload_and_download_with_ranges() {
    let sim = Sim::vcenter();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = connect(&sim).await;
        let file = DatastorePath::parse("[LocalDS_0] ceso-test/blob.bin").unwrap();
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let body = futures::stream::iter(
            data.chunks(64 * 1024)
                .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        client
            .upload("DC0", &file, data.len() as u64, body)
            .await
            .expect("upload");
        assert_eq!(
            client.file_size("DC0", &file).await.unwrap(),
            Some(data.len() as u64)
        );

        let collect = |range| {
            let client = client.clone();
            let file = file.clone();
            async move {
                let mut stream = Box::pin(
                    client
                        .download("DC0", &file, range)
                        .await
                        .expect("download"),
                );
                let mut out = Vec::new();
                while let Some(chunk) = stream.next().await {
                    out.extend_from_slice(&chunk.expect("chunk"));
                }
                out
            }
        };
        assert_eq!(collect(None).await, data);
        assert_eq!(
            collect(Some((1_000_000, 1_000_100))).await,
            &data[1_000_000..1_000_100]
        );

        let missing = DatastorePath::parse("[LocalDS_0] ceso-test/none.bin").unwrap();
        assert_eq!(client.file_size("DC0", &missing).await.unwrap(), None);
        let err = client
            .download("DC0", &missing, None)
            .await
            .err()
            .expect("404");
        assert!(err.is_fault("FileNotFound"), "{err}");
    });
}
