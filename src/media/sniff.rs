//! Trust the bytes, not the name: what a file is, read from its first bytes
//! against an allowlist, and for images a rewrite that keeps the picture and
//! drops everything else (EXIF and GPS positions, comments, and whatever was
//! appended after the image's end, such as a script in a polyglot).
//!
//! Each image format is walked as the chunks or segments it is made of, from
//! a reader to a writer, so a 10 MiB upload is never held in memory. The
//! header gives the picture's size, checked against the decompression-bomb
//! guard before anyone's browser decodes it.

use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};

use crate::config::{MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE};
use crate::protocol::MediaKind;

/// A type natter accepts, by its signature (`media::sniff` in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Gif,
    Webp,
    Webm,
    Ogg,
    Mp4,
}

impl Format {
    /// The one type it is served as.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Gif => "image/gif",
            Format::Webp => "image/webp",
            Format::Webm => "audio/webm",
            Format::Ogg => "audio/ogg",
            Format::Mp4 => "audio/mp4",
        }
    }

    pub fn kind(self) -> MediaKind {
        match self {
            Format::Png | Format::Jpeg | Format::Gif | Format::Webp => MediaKind::Image,
            Format::Webm | Format::Ogg | Format::Mp4 => MediaKind::Voice,
        }
    }
}

/// How many bytes [`sniff`] wants to see.
pub const SNIFF_BYTES: usize = 12;

/// The format these first bytes begin, if it is one natter accepts.
pub fn sniff(head: &[u8]) -> Option<Format> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    match () {
        _ if at(0, b"\x89PNG\r\n\x1a\n") => Some(Format::Png),
        _ if at(0, b"\xff\xd8\xff") => Some(Format::Jpeg),
        _ if at(0, b"GIF87a") || at(0, b"GIF89a") => Some(Format::Gif),
        _ if at(0, b"RIFF") && at(8, b"WEBP") => Some(Format::Webp),
        _ if at(0, b"\x1a\x45\xdf\xa3") => Some(Format::Webm),
        _ if at(0, b"OggS") => Some(Format::Ogg),
        _ if at(4, b"ftyp") => Some(Format::Mp4),
        _ => None,
    }
}

/// Why an image was refused: the message says what to do.
#[derive(Debug, PartialEq)]
pub enum Bad {
    /// Not a well-formed image of the format its first bytes promised.
    Malformed(String),
    /// Larger than the decompression-bomb guard.
    TooLarge(String),
}

impl From<io::Error> for Bad {
    fn from(err: io::Error) -> Bad {
        match err.kind() {
            io::ErrorKind::UnexpectedEof => Bad::Malformed("the image ends too soon".into()),
            _ => Bad::Malformed(format!("the image could not be read: {err}")),
        }
    }
}

/// Copy image `format` from `input` to `output` without its metadata and
/// without anything after its end, and say its width and height.
pub fn clean_image<R: BufRead, W: Write + Seek>(
    format: Format,
    input: &mut R,
    output: &mut W,
) -> Result<(u32, u32), Bad> {
    let (width, height) = match format {
        Format::Png => png(input, output)?,
        Format::Jpeg => jpeg(input, output)?,
        Format::Gif => gif(input, output)?,
        Format::Webp => webp(input, output)?,
        _ => return Err(Bad::Malformed("that is not an image".into())),
    };
    check_size(width, height)?;
    Ok((width, height))
}

/// The decompression-bomb guard.
fn check_size(width: u32, height: u32) -> Result<(), Bad> {
    if width == 0 || height == 0 {
        return Err(Bad::Malformed("the image has no pixels".into()));
    }
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(Bad::TooLarge(format!(
            "the image is {width}x{height} pixels; each side may be at most {MAX_IMAGE_SIDE}"
        )));
    }
    let pixels = width as u64 * height as u64;
    if pixels > MAX_IMAGE_PIXELS {
        return Err(Bad::TooLarge(format!(
            "the image has {} million pixels; the limit is {} million",
            pixels / 1_000_000,
            MAX_IMAGE_PIXELS / 1_000_000
        )));
    }
    Ok(())
}

fn bytes<const N: usize, R: Read>(input: &mut R) -> io::Result<[u8; N]> {
    let mut buf = [0; N];
    input.read_exact(&mut buf)?;
    Ok(buf)
}

/// Copy exactly `n` bytes.
fn copy_n<R: Read, W: Write>(input: &mut R, output: &mut W, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut input.take(n), output)?;
    match copied == n {
        true => Ok(()),
        false => Err(io::ErrorKind::UnexpectedEof.into()),
    }
}

/// Skip exactly `n` bytes.
fn skip_n<R: Read>(input: &mut R, n: u64) -> io::Result<()> {
    copy_n(input, &mut io::sink(), n)
}

/// PNG: the signature, then chunks (length, type, data, CRC) up to `IEND`.
/// Text chunks (`tEXt`, `zTXt`, `iTXt`), `eXIf` and `tIME` are dropped; the
/// size is in `IHDR`, which comes first.
fn png<R: BufRead, W: Write>(input: &mut R, output: &mut W) -> Result<(u32, u32), Bad> {
    output.write_all(&bytes::<8, _>(input)?)?;
    let mut size = None;
    loop {
        let head = bytes::<8, _>(input)?;
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
        let kind = &head[4..8];
        if length > 0x7fff_ffff {
            return Err(Bad::Malformed("a PNG chunk is too long".into()));
        }
        if size.is_none() {
            if kind != b"IHDR" || length < 8 {
                return Err(Bad::Malformed("a PNG must begin with its IHDR".into()));
            }
            let data = bytes::<8, _>(input)?;
            size = Some((
                u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
                u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ));
            output.write_all(&head)?;
            output.write_all(&data)?;
            copy_n(input, output, length - 8 + 4)?;
            continue;
        }
        match kind {
            b"tEXt" | b"zTXt" | b"iTXt" | b"eXIf" | b"tIME" => skip_n(input, length + 4)?,
            _ => {
                output.write_all(&head)?;
                copy_n(input, output, length + 4)?;
            }
        }
        if kind == b"IEND" {
            return Ok(size.expect("IHDR was read first"));
        }
    }
}

/// JPEG: markers and their segments up to the first scan, then the scans
/// up to `EOI`. Of the application segments only JFIF (`APP0`), the colour
/// profile (`APP2`) and Adobe's (`APP14`) stay: EXIF and XMP (`APP1`), IPTC
/// (`APP13`) and comments go. The size is in the frame header (`SOFn`).
fn jpeg<R: BufRead, W: Write>(input: &mut R, output: &mut W) -> Result<(u32, u32), Bad> {
    output.write_all(&bytes::<2, _>(input)?)?; // SOI
    let mut size = None;
    let mut marker = next_marker(input)?;
    loop {
        match marker {
            0xd9 => {
                output.write_all(&[0xff, 0xd9])?;
                return size.ok_or_else(|| Bad::Malformed("the JPEG has no frame".into()));
            }
            // Markers without a segment.
            0x01 | 0xd0..=0xd7 => {
                output.write_all(&[0xff, marker])?;
                marker = next_marker(input)?;
                continue;
            }
            _ => {}
        }
        let length = u16::from_be_bytes(bytes::<2, _>(input)?) as u64;
        if length < 2 {
            return Err(Bad::Malformed("a JPEG segment is too short".into()));
        }
        let keep = !matches!(marker, 0xe1 | 0xe3..=0xed | 0xef | 0xfe);
        let is_frame = matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
        if is_frame {
            if length < 7 {
                return Err(Bad::Malformed("a JPEG frame header is too short".into()));
            }
            let data = bytes::<5, _>(input)?;
            let height = u16::from_be_bytes([data[1], data[2]]) as u32;
            let width = u16::from_be_bytes([data[3], data[4]]) as u32;
            size = Some((width, height));
            output.write_all(&[0xff, marker])?;
            output.write_all(&(length as u16).to_be_bytes())?;
            output.write_all(&data)?;
            copy_n(input, output, length - 7)?;
        } else if keep {
            output.write_all(&[0xff, marker])?;
            output.write_all(&(length as u16).to_be_bytes())?;
            copy_n(input, output, length - 2)?;
        } else {
            skip_n(input, length - 2)?;
        }
        marker = match marker {
            0xda => scan(input, output)?,
            _ => next_marker(input)?,
        };
    }
}

/// The next marker's code, past any fill bytes (`FF FF ...`).
fn next_marker<R: Read>(input: &mut R) -> Result<u8, Bad> {
    if bytes::<1, _>(input)?[0] != 0xff {
        return Err(Bad::Malformed(
            "the JPEG has bytes where a marker belongs".into(),
        ));
    }
    loop {
        match bytes::<1, _>(input)?[0] {
            0xff => continue,
            code => return Ok(code),
        }
    }
}

/// Copy a scan's entropy-coded data, in which `FF 00` is a data byte and
/// `FF D0`..`FF D7` are restart markers, and return the marker that ends it.
fn scan<R: BufRead, W: Write>(input: &mut R, output: &mut W) -> Result<u8, Bad> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Err(Bad::Malformed("the JPEG ends inside a scan".into()));
        }
        // Everything before the next FF is data.
        let Some(ff) = buf.iter().position(|&b| b == 0xff) else {
            let n = buf.len();
            output.write_all(buf)?;
            input.consume(n);
            continue;
        };
        output.write_all(&buf[..ff])?;
        input.consume(ff + 1);
        let mut code = bytes::<1, _>(input)?[0];
        while code == 0xff {
            code = bytes::<1, _>(input)?[0];
        }
        match code {
            0x00 | 0xd0..=0xd7 => output.write_all(&[0xff, code])?,
            _ => return Ok(code),
        }
    }
}

/// GIF: header and screen descriptor (the size), colour table, then blocks
/// up to the trailer. Comments go, and so do application extensions other
/// than the one that makes an animation loop (XMP hides in those).
fn gif<R: BufRead, W: Write>(input: &mut R, output: &mut W) -> Result<(u32, u32), Bad> {
    let head = bytes::<13, _>(input)?;
    output.write_all(&head)?;
    let width = u16::from_le_bytes([head[6], head[7]]) as u32;
    let height = u16::from_le_bytes([head[8], head[9]]) as u32;
    check_size(width, height)?;
    if head[10] & 0x80 != 0 {
        copy_n(input, output, 3 << ((head[10] & 7) + 1))?;
    }
    loop {
        match bytes::<1, _>(input)?[0] {
            0x3b => {
                output.write_all(&[0x3b])?;
                return Ok((width, height));
            }
            0x2c => {
                let descriptor = bytes::<9, _>(input)?;
                output.write_all(&[0x2c])?;
                output.write_all(&descriptor)?;
                if descriptor[8] & 0x80 != 0 {
                    copy_n(input, output, 3 << ((descriptor[8] & 7) + 1))?;
                }
                output.write_all(&bytes::<1, _>(input)?)?; // LZW code size
                sub_blocks(input, Some(output))?;
            }
            0x21 => {
                let label = bytes::<1, _>(input)?[0];
                let keep = match label {
                    0xfe => false,
                    0xff => {
                        // The first sub-block names the application.
                        let size = bytes::<1, _>(input)?[0];
                        let mut name = vec![0; size as usize];
                        input.read_exact(&mut name)?;
                        let keep = name.starts_with(b"NETSCAPE2.0");
                        if keep {
                            output.write_all(&[0x21, 0xff, size])?;
                            output.write_all(&name)?;
                        }
                        sub_blocks(input, keep.then_some(&mut *output))?;
                        continue;
                    }
                    _ => true,
                };
                if keep {
                    output.write_all(&[0x21, label])?;
                }
                sub_blocks(input, keep.then_some(&mut *output))?;
            }
            _ => return Err(Bad::Malformed("the GIF has an unknown block".into())),
        }
    }
}

/// A GIF's data sub-blocks, up to the empty one, copied or skipped.
fn sub_blocks<R: Read, W: Write>(input: &mut R, mut output: Option<&mut W>) -> Result<(), Bad> {
    loop {
        let size = bytes::<1, _>(input)?[0];
        match output.as_deref_mut() {
            Some(out) => {
                out.write_all(&[size])?;
                copy_n(input, out, size as u64)?;
            }
            None => skip_n(input, size as u64)?,
        }
        if size == 0 {
            return Ok(());
        }
    }
}

/// WebP: a RIFF file of chunks. `EXIF` and `XMP ` go (and their flags in
/// `VP8X`); the RIFF size is written anew, and nothing after it is kept. The
/// size is in `VP8X`, or else in the `VP8 ` or `VP8L` frame.
fn webp<R: BufRead, W: Write + Seek>(input: &mut R, output: &mut W) -> Result<(u32, u32), Bad> {
    let head = bytes::<12, _>(input)?;
    let riff = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as u64;
    let start = output.stream_position()?;
    output.write_all(&head)?;
    let (mut read, mut written) = (4u64, 4u64);
    let mut size = None;
    while read < riff {
        let chunk = bytes::<8, _>(input)?;
        let length = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]) as u64;
        let padded = length + (length & 1);
        read += 8 + padded;
        match &chunk[..4] {
            b"EXIF" | b"XMP " => {
                skip_n(input, padded)?;
                continue;
            }
            b"VP8X" if length >= 10 => {
                let mut data = bytes::<10, _>(input)?;
                data[0] &= !0x0c; // no EXIF, no XMP
                let w = 1 + u32::from_le_bytes([data[4], data[5], data[6], 0]);
                let h = 1 + u32::from_le_bytes([data[7], data[8], data[9], 0]);
                size = Some((w, h));
                output.write_all(&chunk)?;
                output.write_all(&data)?;
                copy_n(input, output, padded - 10)?;
            }
            b"VP8 " if length >= 10 => {
                let data = bytes::<10, _>(input)?;
                if data[3..6] != [0x9d, 0x01, 0x2a] {
                    return Err(Bad::Malformed("the WebP frame has no start code".into()));
                }
                let w = u16::from_le_bytes([data[6], data[7]]) as u32 & 0x3fff;
                let h = u16::from_le_bytes([data[8], data[9]]) as u32 & 0x3fff;
                size = size.or(Some((w, h)));
                output.write_all(&chunk)?;
                output.write_all(&data)?;
                copy_n(input, output, padded - 10)?;
            }
            b"VP8L" if length >= 5 => {
                let data = bytes::<5, _>(input)?;
                if data[0] != 0x2f {
                    return Err(Bad::Malformed("the WebP frame has no signature".into()));
                }
                let bits = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
                size = size.or(Some((1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff))));
                output.write_all(&chunk)?;
                output.write_all(&data)?;
                copy_n(input, output, padded - 5)?;
            }
            _ => {
                output.write_all(&chunk)?;
                copy_n(input, output, padded)?;
            }
        }
        written += 8 + padded;
    }
    let end = output.stream_position()?;
    output.seek(SeekFrom::Start(start + 4))?;
    output.write_all(&(written as u32).to_le_bytes())?;
    output.seek(SeekFrom::Start(end))?;
    size.ok_or_else(|| Bad::Malformed("the WebP has no frame".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn clean(data: &[u8]) -> Result<((u32, u32), Vec<u8>), Bad> {
        let format = sniff(data).expect("a known format");
        let mut out = Cursor::new(Vec::new());
        let size = clean_image(format, &mut Cursor::new(data), &mut out)?;
        Ok((size, out.into_inner()))
    }

    /// A PNG chunk with a CRC (the tests do not check it, nor does natter).
    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(kind);
        c.extend(data);
        c.extend([0; 4]);
        c
    }

    fn png_of(width: u32, height: u32, extra: &[Vec<u8>]) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &ihdr));
        for c in extra {
            png.extend(c);
        }
        png.extend(chunk(b"IDAT", b"pixels"));
        png.extend(chunk(b"IEND", b""));
        png
    }

    #[test]
    fn signatures_are_sniffed_and_everything_else_is_not() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(Format::Png));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0"), Some(Format::Jpeg));
        assert_eq!(sniff(b"GIF89a......"), Some(Format::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::Webp));
        assert_eq!(sniff(b"\x1a\x45\xdf\xa3...."), Some(Format::Webm));
        assert_eq!(sniff(b"OggS\0\x02"), Some(Format::Ogg));
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A "), Some(Format::Mp4));
        assert_eq!(sniff(b"<svg xmlns="), None);
        assert_eq!(sniff(b"<!DOCTYPE html>"), None);
        assert_eq!(sniff(b"%PDF-1.7"), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), None);
    }

    #[test]
    fn a_png_loses_its_text_and_exif_and_whatever_follows_iend() {
        let exif = chunk(b"eXIf", b"GPS 51.5N 0.1W");
        let text = chunk(b"tEXt", b"Comment\0secret");
        let mut png = png_of(640, 480, &[exif, text]);
        let clean_png = png_of(640, 480, &[]);
        png.extend(b"<script>alert(1)</script>");
        let (size, out) = clean(&png).unwrap();
        assert_eq!(size, (640, 480));
        assert_eq!(out, clean_png);
    }

    #[test]
    fn a_jpeg_loses_exif_and_comments_and_keeps_its_frame_and_scan() {
        let segment = |marker: u8, data: &[u8]| {
            let mut s = vec![0xff, marker];
            s.extend(((data.len() + 2) as u16).to_be_bytes());
            s.extend(data);
            s
        };
        let jfif = segment(0xe0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        let frame = segment(0xc0, &[8, 0x01, 0xe0, 0x02, 0x80, 1, 1, 0x11, 0]);
        let sos = segment(0xda, &[1, 1, 0, 0, 0x3f, 0]);
        // Entropy data with a stuffed FF 00 and a restart marker in it.
        let data = [0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56];
        let mut want = vec![0xff, 0xd8];
        want.extend(&jfif);
        want.extend(&frame);
        want.extend(&sos);
        want.extend(data);
        want.extend([0xff, 0xd9]);
        let mut jpeg = vec![0xff, 0xd8];
        jpeg.extend(&jfif);
        jpeg.extend(segment(0xe1, b"Exif\0\0GPS 51.5N"));
        jpeg.extend(segment(0xfe, b"a comment"));
        jpeg.extend(&frame);
        jpeg.extend(&sos);
        jpeg.extend(data);
        jpeg.extend([0xff, 0xd9]);
        jpeg.extend(b"<html><script>alert(1)</script>");
        let (size, out) = clean(&jpeg).unwrap();
        assert_eq!(size, (640, 480));
        assert_eq!(out, want);
    }

    #[test]
    fn a_gif_keeps_its_loop_and_frames_and_loses_comments() {
        let mut gif = b"GIF89a\x02\0\x03\0\x80\0\0".to_vec();
        gif.extend([0; 6]); // a global colour table of two colours
        let netscape = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\0\0\0".to_vec();
        let frame = b"\x2c\0\0\0\0\x02\0\x03\0\0\x02\x02\x44\x01\0".to_vec();
        let mut want = gif.clone();
        want.extend(&netscape);
        want.extend(&frame);
        want.push(0x3b);
        gif.extend(b"\x21\xfe\x05hello\0");
        gif.extend(b"\x21\xff\x0bXMP DataXMP\x03abc\0");
        gif.extend(&netscape);
        gif.extend(&frame);
        gif.push(0x3b);
        gif.extend(b"trailing");
        let (size, out) = clean(&gif).unwrap();
        assert_eq!(size, (2, 3));
        assert_eq!(out, want);
    }

    #[test]
    fn a_webp_loses_exif_and_xmp_and_its_riff_size_is_written_anew() {
        let riff_chunk = |kind: &[u8], data: &[u8]| {
            let mut c = kind.to_vec();
            c.extend((data.len() as u32).to_le_bytes());
            c.extend(data);
            if data.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        let webp_of = |chunks: &[Vec<u8>]| {
            let body: Vec<u8> = chunks.concat();
            let mut w = b"RIFF".to_vec();
            w.extend(((body.len() + 4) as u32).to_le_bytes());
            w.extend(b"WEBP");
            w.extend(body);
            w
        };
        // VP8X with EXIF and XMP flags, 800x600.
        let vp8x = |flags: u8| {
            let (w, h) = (799u32.to_le_bytes(), 599u32.to_le_bytes());
            riff_chunk(
                b"VP8X",
                &[flags, 0, 0, 0, w[0], w[1], w[2], h[0], h[1], h[2]],
            )
        };
        let frame = riff_chunk(b"VP8L", &[0x2f, 0x1f, 0xc3, 0x95, 0x00, 1, 2]);
        let dirty = webp_of(&[
            vp8x(0x0c),
            frame.clone(),
            riff_chunk(b"EXIF", b"GPS 51.5N"),
            riff_chunk(b"XMP ", b"<x/>"),
        ]);
        let mut with_tail = dirty.clone();
        with_tail.extend(b"<script>");
        let (size, out) = clean(&with_tail).unwrap();
        assert_eq!(size, (800, 600));
        assert_eq!(out, webp_of(&[vp8x(0), frame]));
    }

    #[test]
    fn bombs_and_broken_images_are_refused() {
        let bomb = png_of(20_000, 20_000, &[]);
        assert!(matches!(clean(&bomb), Err(Bad::TooLarge(m)) if m.contains("16384")));
        let wide = png_of(10_000, 5_000, &[]);
        assert!(matches!(clean(&wide), Err(Bad::TooLarge(m)) if m.contains("40 million")));
        let cut = &png_of(10, 10, &[])[..30];
        assert!(matches!(clean(cut), Err(Bad::Malformed(_))));
        let mut no_ihdr = b"\x89PNG\r\n\x1a\n".to_vec();
        no_ihdr.extend(chunk(b"IDAT", b"x"));
        assert!(matches!(clean(&no_ihdr), Err(Bad::Malformed(m)) if m.contains("IHDR")));
        assert!(matches!(clean(b"\xff\xd8\xff\xd9"), Err(Bad::Malformed(_))));
    }
}
