//! The settings of the Parquet files a layout holds, the same whichever flow writes them.

use arrow_schema::{DataType, Schema};
use parquet::basic::Compression as ParquetCompression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::spec::storage::Codec;

/// Rows of a Parquet row group at most.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The settings of a layout's Parquet files of `schema`, for backfill and deliver alike: the
/// layout's `compression` (snappy when it names none) and row groups of up to
/// [`ROW_GROUP_ROWS`] rows. Numbers and times are written
/// plain: mostly distinct (keys, instants, coordinates), they gain little from a dictionary
/// and cost its hashing. Text keeps dictionaries.
pub fn parquet_properties(compression: Option<Codec>, schema: &Schema) -> WriterProperties {
    let codec = match compression.unwrap_or(Codec::Snappy) {
        Codec::None => ParquetCompression::UNCOMPRESSED,
        Codec::Gzip => ParquetCompression::GZIP(Default::default()),
        Codec::Zstd => ParquetCompression::ZSTD(Default::default()),
        Codec::Snappy => ParquetCompression::SNAPPY,
    };
    let mut properties = WriterProperties::builder()
        .set_compression(codec)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for field in schema.fields() {
        if !matches!(field.data_type(), DataType::Utf8 | DataType::Boolean) {
            properties = properties
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    properties.build()
}
