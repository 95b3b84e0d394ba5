//! The pool's gauges, read from sqlx at each scrape: how many connections are open, how
//! many of them idle, and the most there may be. Together with `db_pool_waiting` they
//! show saturation: all open, none idle, callers waiting.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use super::{Db, Pool};

/// Registered in the metrics registry; holds a handle to the pool.
pub struct PoolGauges(Db);

impl fmt::Debug for PoolGauges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PoolGauges")
            .field(&self.0.backend_name())
            .finish()
    }
}

impl Db {
    pub fn pool_gauges(&self) -> PoolGauges {
        PoolGauges(self.clone())
    }
}

impl Collector for PoolGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let (size, idle, max) = on_pool!(&self.0.pool, p => (
            p.size(),
            p.num_idle(),
            p.options().get_max_connections(),
        ));
        let gauges = [
            (
                "db_pool_connections",
                "Open database connections, idle or in use",
                i64::from(size),
            ),
            (
                "db_pool_idle_connections",
                "Open database connections not in use",
                idle as i64,
            ),
            (
                "db_pool_max_connections",
                "The most connections the pool opens (DB_MAX_CONNECTIONS; at most 8 on SQLite)",
                i64::from(max),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}
