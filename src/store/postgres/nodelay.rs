//! TCP_NODELAY on the connections to PostgreSQL.
//!
//! sqlx 0.9.0 opens its TCP sockets without `TCP_NODELAY` (a regression from 0.8, fixed
//! upstream in sqlx#4336 and not released yet). Without it, a statement whose messages
//! leave in two writes waits for the server's delayed ACK: about 40 ms, which made every
//! page of planning (a bind of a thousand phone numbers) take 45 ms instead of 4. sqlx does
//! not hand out its socket, so after each connect herald sets the option on every TCP
//! socket of the process. That is harmless for the others (HTTP clients and the API all
//! want it too) and cheap (the process has a few dozen descriptors). Remove this module
//! once sqlx sets the option itself again.

/// Sets `TCP_NODELAY` on every TCP socket the process has open.
#[cfg(target_os = "linux")]
pub(crate) fn on_every_tcp_socket() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in entries.flatten() {
        if let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        {
            set_nodelay(fd);
        }
    }
}

/// Sets `TCP_NODELAY` on every TCP socket among the first descriptors.
#[cfg(all(unix, not(target_os = "linux")))]
pub(crate) fn on_every_tcp_socket() {
    for fd in 0..1024 {
        set_nodelay(fd);
    }
}

#[cfg(not(unix))]
pub(crate) fn on_every_tcp_socket() {}

/// Sets the option if `fd` is a TCP socket (IPv4 or IPv6, stream); leaves anything else.
#[cfg(unix)]
fn set_nodelay(fd: i32) {
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `addr` and `len` are valid for writes of the sizes given; a descriptor that
    // is not a socket makes the call fail, which is checked.
    let named = unsafe {
        libc::getsockname(
            fd,
            (&mut addr as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    let family = i32::from(addr.ss_family);
    if named != 0 || (family != libc::AF_INET && family != libc::AF_INET6) {
        return;
    }
    let mut kind: libc::c_int = 0;
    let mut kind_len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: as above, for one `c_int`.
    let typed = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut kind_len,
        )
    };
    if typed != 0 || kind != libc::SOCK_STREAM {
        return;
    }
    let one: libc::c_int = 1;
    // SAFETY: `fd` is a TCP socket and `one` a valid `c_int` for the option's value.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn sets_the_option_on_the_process_tcp_sockets() {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(!stream.nodelay().unwrap());
        super::on_every_tcp_socket();
        assert!(stream.nodelay().unwrap());
        assert!(stream.as_raw_fd() > 2);
    }
}
