//! What rtds ships beside the pipeline: tools for testing and measuring
//! it, never on a record's way.

pub mod randomuser_server;
