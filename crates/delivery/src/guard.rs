//! The outbound guard: where Varsel may send to a URL that someone set through the API
//! (a Teams workflow webhook, a Web Push endpoint). Such a URL must be `https`, on an
//! allowed host, and reach only public addresses: never loopback, private, link-local,
//! unique-local, carrier-grade NAT, multicast or reserved ones, in any spelling
//! (`0x7f000001`, `[::1]`, `[::ffff:127.0.0.1]`, `169.254.169.254`).
//!
//! It is checked twice: [`Guard::check_url`] when the URL is stored and again before
//! each request (a URL with an address in it never reaches DNS), and [`GuardedResolver`]
//! when connecting, which drops every non-public address a name resolves to, so a name
//! that resolved to a public address when stored and to `127.0.0.1` later (DNS
//! rebinding) still cannot reach inside. Guarded clients use no proxy (a proxy would
//! resolve the name itself).
//!
//! Test mode ([`Guard::allow_private`]) lets plain `http` and internal addresses through,
//! for test servers on loopback; operators never need it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Where outbound requests to API-set URLs may go.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allow_private: bool,
    /// Allowed host names (a name also allows its subdomains); empty: any public host.
    hosts: Vec<String>,
}

impl Guard {
    /// `https` only, public addresses only, any host.
    pub fn new() -> Guard {
        Guard::default()
    }

    /// Test mode: plain `http` and internal addresses are allowed too.
    pub fn allow_private(mut self, yes: bool) -> Guard {
        self.allow_private = yes;
        self
    }

    /// Only these hosts (comma-separated; a name matches itself and its subdomains;
    /// `*` any host). Empty: any host.
    pub fn hosts(mut self, list: &str) -> Guard {
        self.hosts = list
            .split(',')
            .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty() && h != "*")
            .collect();
        if list.split(',').any(|h| h.trim() == "*") {
            self.hosts.clear();
        }
        self
    }

    pub fn is_test_mode(&self) -> bool {
        self.allow_private
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.is_empty()
            || self
                .hosts
                .iter()
                .any(|h| host == *h || host.ends_with(&format!(".{h}")))
    }

    /// Checks a URL before it is stored and before each request; the reason is safe to
    /// show (it never repeats the URL, which may carry a secret).
    pub fn check_url(&self, url: &str) -> Result<Url, String> {
        let u = Url::parse(url.trim()).map_err(|_| "not a URL".to_string())?;
        match u.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            _ => return Err("must be an https URL".into()),
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err("must not carry a user name or password".into());
        }
        // The URL parser writes every IPv4 spelling (`0x7f000001`, `127.1`) in dotted
        // form and IPv6 in brackets, so an address is always recognised here.
        let host = match u.host_str() {
            Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
            _ => return Err("must name a host".into()),
        };
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return self.check_ip(ip, u);
        }
        let host = host.trim_end_matches('.');
        if !self.allow_private
            && (host == "localhost" || host.ends_with(".localhost") || !host.contains('.'))
        {
            return Err("must be on a public host".into());
        }
        if !self.host_allowed(host) {
            return Err(format!("the host {host} is not an allowed host"));
        }
        Ok(u)
    }

    fn check_ip(&self, ip: IpAddr, u: Url) -> Result<Url, String> {
        if !self.allow_private && !is_public(ip) {
            return Err("must not point at a loopback, private or link-local address".into());
        }
        // An address passes a host list only when listed itself (test servers).
        if !self.host_allowed(&ip.to_string()) {
            return Err("must name an allowed host, not an address".into());
        }
        Ok(u)
    }

    /// The resolver for this guard's HTTP client.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            allow_private: self.allow_private,
        })
    }
}

/// A DNS resolver that keeps only public addresses (all of them in test mode).
#[derive(Debug)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let kept: Vec<SocketAddr> = found
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if kept.is_empty() {
                let e = std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the host resolves to no public address",
                );
                return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// Whether an address is on the public Internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // carrier-grade NAT 100.64.0.0/10
        || (a == 100 && (b & 0xc0) == 64)
        // IETF protocol assignments 192.0.0.0/24
        || (a == 192 && b == 0 && c == 0)
        // benchmarking 198.18.0.0/15
        || (a == 198 && (b & 0xfe) == 18)
        // reserved 240.0.0.0/4
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) carry an IPv4
    // address that the network may route to.
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return is_public_v4(embedded);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(embedded);
    }
    // 6to4 (2002::/16) carries one in the next 32 bits.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return is_public_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // unique local fc00::/7
        || (s[0] & 0xfe00) == 0xfc00
        // link-local fe80::/10 and the old site-local fec0::/10
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // documentation 2001:db8::/32
        || (s[0] == 0x2001 && s[1] == 0xdb8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_in_every_spelling_are_refused() {
        let g = Guard::new();
        for bad in [
            "http://example.com/x",
            "https://127.0.0.1/x",
            "https://localhost/x",
            "https://api.localhost/x",
            "https://[::1]/x",
            "https://0x7f000001/x",
            "https://2130706433/x",
            "https://017700000001/x",
            "https://127.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/x",
            "https://172.16.5.4/x",
            "https://192.168.1.1/x",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://[::127.0.0.1]/x",
            "https://[64:ff9b::a9fe:a9fe]/x",
            "https://[2002:7f00:1::]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://intranet/x",
            "https://user:pw@example.com/x",
            "ftp://example.com/x",
            "not a url",
        ] {
            assert!(g.check_url(bad).is_err(), "{bad}");
        }
        for ok in [
            "https://example.com/x",
            "https://93.184.216.34/x",
            "https://[2606:4700::1111]/x",
        ] {
            assert!(g.check_url(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn hosts_are_matched_with_their_subdomains() {
        let g = Guard::new().hosts("logic.azure.com, push.apple.com");
        assert!(
            g.check_url("https://prod-1.westus.logic.azure.com/w")
                .is_ok()
        );
        assert!(g.check_url("https://web.push.apple.com/x").is_ok());
        assert!(g.check_url("https://evillogic.azure.com/w").is_err());
        assert!(
            g.check_url("https://logic.azure.com.evil.example/w")
                .is_err()
        );
        assert!(
            g.check_url("https://93.184.216.34/x").is_err(),
            "an address is no host"
        );
        assert!(
            Guard::new()
                .hosts("*")
                .check_url("https://a.example/x")
                .is_ok()
        );
    }

    #[test]
    fn test_mode_allows_loopback_and_http() {
        let g = Guard::new().allow_private(true).hosts("127.0.0.1");
        assert!(g.check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(
            g.check_url("http://127.0.0.2:8080/x").is_err(),
            "not listed"
        );
        let any = Guard::new().allow_private(true);
        assert!(any.check_url("http://localhost:8080/x").is_ok());
        assert!(any.check_url("http://[::1]:8080/x").is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_internal_addresses() {
        let strict = Guard::new().resolver();
        let name: Name = "localhost".parse().unwrap();
        assert!(strict.resolve(name).await.is_err());
        let open = Guard::new().allow_private(true).resolver();
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = open.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
