//! The `htu` comparison of RFC 9449 §4.3: the URL without query and
//! fragment, after RFC 3986's syntax- and scheme-based normalisation.

/// The normal form of an `http(s)` URL for `htu` comparison, or `None` when
/// it is not an absolute `http`/`https` URL: scheme and host lowercased,
/// the default port dropped, an empty path as `/`, percent-encodings in
/// upper case and unreserved characters decoded, `.` and `..` segments
/// removed; query and fragment cut off.
///
/// ```
/// use tokengate::dpop::normalize_htu;
///
/// assert_eq!(normalize_htu("HTTPS://Server.Example.COM:443/a/%7euser/./b?x=1#f").unwrap(),
///            "https://server.example.com/a/~user/b");
/// assert_eq!(normalize_htu("http://h:8080").unwrap(), "http://h:8080/");
/// assert!(normalize_htu("/relative").is_none());
/// assert!(normalize_htu("ftp://h/").is_none());
/// ```
pub fn normalize_htu(url: &str) -> Option<String> {
    let url = url.split('#').next().unwrap_or_default();
    let url = url.split('?').next().unwrap_or_default();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    // Credentials in a URL have no place in a proof.
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal's colons are inside the brackets.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority.as_str(), None),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_[]:%".contains(&b))
    {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
            let trimmed = p.trim_start_matches('0');
            (trimmed != default_port).then_some(if trimmed.is_empty() { "0" } else { trimmed })
        }
        Some(_) => return None,
    };
    let path = normalize_path(path)?;
    let mut out = String::with_capacity(scheme.len() + 3 + host.len() + path.len() + 6);
    out.push_str(&scheme);
    out.push_str("://");
    out.push_str(host);
    if let Some(port) = port {
        out.push(':');
        out.push_str(port);
    }
    out.push_str(&path);
    Some(out)
}

fn normalize_path(path: &str) -> Option<String> {
    let mut decoded = String::with_capacity(path.len());
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                decoded.push(char::from(value));
            } else {
                decoded.push('%');
                decoded.push_str(&std::str::from_utf8(hex).ok()?.to_ascii_uppercase());
            }
            i += 3;
        } else if b.is_ascii_graphic() {
            decoded.push(char::from(b));
            i += 1;
        } else {
            return None;
        }
    }
    // RFC 3986 §5.2.4, remove_dot_segments.
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = decoded.split('/').skip(1).peekable();
    let mut trailing = false;
    while let Some(segment) = parts.next() {
        let last = parts.peek().is_none();
        match segment {
            "." => trailing = last,
            ".." => {
                segments.pop();
                trailing = last;
            }
            s => {
                segments.push(s);
                trailing = false;
            }
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::normalize_htu;

    #[test]
    fn equivalent_urls_normalise_alike() {
        let same = [
            "https://server.example.com/token",
            "HTTPS://SERVER.example.com:443/token",
            "https://server.example.com/%74oken",
            "https://server.example.com/a/../token?x#y",
            "https://server.example.com/./token",
        ];
        for url in same {
            assert_eq!(
                normalize_htu(url).as_deref(),
                Some("https://server.example.com/token"),
                "{url}"
            );
        }
    }

    #[test]
    fn different_urls_stay_different() {
        let n = |u| normalize_htu(u).unwrap();
        assert_ne!(n("http://h/x"), n("https://h/x"));
        assert_ne!(n("http://h:8080/x"), n("http://h/x"));
        assert_ne!(n("http://h/x/"), n("http://h/x"));
        assert_ne!(n("http://h/%2F"), n("http://h//"));
        assert_eq!(n("http://h/%2f"), "http://h/%2F");
        assert_eq!(n("http://[::1]:80/"), "http://[::1]/");
        assert_eq!(n("http://[::1]:8080/a"), "http://[::1]:8080/a");
    }

    #[test]
    fn junk_is_refused() {
        for bad in [
            "",
            "h/x",
            "http://",
            "http:///x",
            "http://u:p@h/x",
            "http://h:x/",
            "http://h/%zz",
            "http://h/%4",
            "http://h/a b",
            "javascript://h/",
        ] {
            assert!(normalize_htu(bad).is_none(), "{bad}");
        }
    }
}
