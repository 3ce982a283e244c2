//! The calls into librdkafka's C API that rust-rdkafka does not wrap: a partition's
//! cached high watermark, IncrementalAlterConfigs, and the length of a consumer's queue.

use std::ffi::{CStr, CString};

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};

use super::{TIMEOUT, failure};
use crate::backend::Result;

/// The high watermark librdkafka cached from the last fetch response of a partition the
/// consumer reads (`rd_kafka_get_watermark_offsets`, which asks no broker and which
/// rust-rdkafka does not wrap); `None` before a fetch response came.
pub(super) fn cached_high_watermark(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
) -> Option<u64> {
    use rdkafka::bindings as rd;

    let topic = CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer lives as long as `consumer`, the topic is a CString that
    // outlives the call, and `low` and `high` are valid places for the two answers.
    let error = unsafe {
        rd::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    if error != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    u64::try_from(high).ok()
}

/// Text owned by librdkafka, copied.
///
/// # Safety
/// `ptr` is null or a NUL-terminated string that lives for the call.
unsafe fn c_text(ptr: *const std::os::raw::c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the caller passes a NUL-terminated string from librdkafka.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// Sets `values` on topic `name` with IncrementalAlterConfigs (operation SET), blocking
/// until the broker answers or [`TIMEOUT`] passes.
pub(super) fn incremental_alter_configs(
    admin: &AdminClient<DefaultClientContext>,
    name: &str,
    values: &[(String, String)],
) -> Result<()> {
    use rdkafka::bindings as rd;

    let c = |s: &str| CString::new(s).map_err(|_| failure(format!("'{s}' holds a NUL byte")));
    let topic = c(name)?;
    let pairs: Vec<(CString, CString)> = values
        .iter()
        .map(|(k, v)| Ok((c(k)?, c(v)?)))
        .collect::<Result<_>>()?;
    let rk = admin.inner().native_ptr();
    // SAFETY: every pointer passed below is created here from librdkafka's own constructors
    // or from CStrings that outlive the calls, and each object is destroyed exactly once.
    unsafe {
        let mut resource = rd::rd_kafka_ConfigResource_new(
            rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
            topic.as_ptr(),
        );
        let mut outcome = Ok(());
        for (key, value) in &pairs {
            let error = rd::rd_kafka_ConfigResource_add_incremental_config(
                resource,
                key.as_ptr(),
                rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                value.as_ptr(),
            );
            if !error.is_null() {
                outcome = Err(failure(format!(
                    "IncrementalAlterConfigs {name}: {}",
                    c_text(rd::rd_kafka_error_string(error))
                )));
                rd::rd_kafka_error_destroy(error);
            }
        }
        if outcome.is_ok() {
            let options = rd::rd_kafka_AdminOptions_new(
                rk,
                rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            );
            let mut errstr = [0 as std::os::raw::c_char; 256];
            rd::rd_kafka_AdminOptions_set_request_timeout(
                options,
                TIMEOUT.as_millis() as i32,
                errstr.as_mut_ptr(),
                errstr.len(),
            );
            let queue = rd::rd_kafka_queue_new(rk);
            rd::rd_kafka_IncrementalAlterConfigs(rk, &mut resource, 1, options, queue);
            let event = rd::rd_kafka_queue_poll(queue, (TIMEOUT.as_millis() + 1000) as i32);
            outcome = if event.is_null() {
                Err(failure(format!(
                    "IncrementalAlterConfigs {name}: no answer within {TIMEOUT:?}"
                )))
            } else if rd::rd_kafka_event_error(event)
                != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            {
                Err(failure(format!(
                    "IncrementalAlterConfigs {name}: {}",
                    c_text(rd::rd_kafka_event_error_string(event))
                )))
            } else {
                let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(event);
                let mut count = 0usize;
                let resources =
                    rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
                let mut found = Ok(());
                for i in 0..count {
                    let item = *resources.add(i);
                    if rd::rd_kafka_ConfigResource_error(item)
                        != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                    {
                        found = Err(failure(format!(
                            "IncrementalAlterConfigs {name}: {}",
                            c_text(rd::rd_kafka_ConfigResource_error_string(item))
                        )));
                    }
                }
                found
            };
            if !event.is_null() {
                rd::rd_kafka_event_destroy(event);
            }
            rd::rd_kafka_queue_destroy(queue);
            rd::rd_kafka_AdminOptions_destroy(options);
        }
        rd::rd_kafka_ConfigResource_destroy(resource);
        outcome
    }
}

/// How many events wait on a consumer's queue (rebalances, log lines, errors; the main
/// queue is forwarded to it), through `rd_kafka_queue_length`, which rust-rdkafka does not
/// wrap.
pub(super) fn queued_events<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> usize {
    use rdkafka::bindings as rd;

    // SAFETY: the client pointer lives as long as `consumer`; the queue handle
    // `rd_kafka_queue_get_consumer` returns is a new reference, destroyed once below.
    unsafe {
        let queue = rd::rd_kafka_queue_get_consumer(consumer.client().native_ptr());
        if queue.is_null() {
            return 0;
        }
        let length = rd::rd_kafka_queue_length(queue);
        rd::rd_kafka_queue_destroy(queue);
        length
    }
}
