//! The Confluent wire format every registry format shares: a zero byte,
//! the schema's id in four bytes (big-endian), then the record encoded with
//! that schema; Protobuf adds, before the record, which message of the
//! schema's file it is.

/// The first byte of a framed record.
const MAGIC: u8 = 0;

/// A framed record's schema id and the bytes after the frame, or why it is
/// not framed.
pub fn framed(payload: &[u8]) -> Result<(u32, &[u8]), String> {
    match payload {
        [MAGIC, a, b, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        [MAGIC, ..] => Err(format!(
            "{} bytes, shorter than the 5 of a frame (a zero byte and a 4-byte schema id)",
            payload.len()
        )),
        [first, ..] => Err(format!(
            "its first byte is {first:#04x}, not the 0x00 of a schema registry's frame: \
             written without the registry's serializer?"
        )),
        [] => Err("empty".into()),
    }
}

/// The message indexes a Protobuf record starts with (the path to its
/// message type through the file's nested messages), and the encoded
/// message after them. A single 0 stands for `[0]`, the file's first
/// message. Each number is a zigzag varint.
pub fn message_indexes(bytes: &[u8]) -> Result<(Vec<i32>, &[u8]), String> {
    let mut rest = bytes;
    let count = zigzag(&mut rest)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if !(1..=100).contains(&count) {
        return Err(format!("{count} message indexes: not a Protobuf frame"));
    }
    let indexes = (0..count)
        .map(|_| zigzag(&mut rest))
        .collect::<Result<_, _>>()?;
    Ok((indexes, rest))
}

/// One zigzag varint, taken off the front of `bytes`.
fn zigzag(bytes: &mut &[u8]) -> Result<i32, String> {
    let mut value: u64 = 0;
    for shift in (0..35).step_by(7) {
        let Some((&byte, rest)) = bytes.split_first() else {
            return Err("the message indexes end early".into());
        };
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            let decoded = (value >> 1) as i64 ^ -((value & 1) as i64);
            return i32::try_from(decoded).map_err(|_| "a message index out of range".into());
        }
    }
    Err("a message index longer than 5 bytes".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_gives_its_id_and_the_rest() {
        assert_eq!(framed(&[0, 0, 0, 1, 2, 9, 9]), Ok((258, &[9u8, 9][..])));
        assert_eq!(framed(&[0, 0, 0, 0, 7]), Ok((7, &[][..])));
        assert!(framed(b"{\"a\":1}").unwrap_err().contains("0x7b"));
        assert!(framed(&[0, 1]).unwrap_err().contains("shorter"));
        assert!(framed(&[]).is_err());
    }

    #[test]
    fn message_indexes_read_as_confluent_writes_them() {
        // [0] is written as the single byte 0.
        assert_eq!(message_indexes(&[0, 8]), Ok((vec![0], &[8u8][..])));
        // [1, 2]: count 2 (zigzag 4), then 1 (2) and 2 (4).
        assert_eq!(message_indexes(&[4, 2, 4, 8]), Ok((vec![1, 2], &[8u8][..])));
        assert!(message_indexes(&[4, 2]).is_err());
        assert!(message_indexes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(message_indexes(&[3]).is_err(), "a negative count");
    }
}
