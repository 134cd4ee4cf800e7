//! The Linux system calls under the relay's event loop, each wrapped once: epoll, an eventfd to wake
//! the loop, and batched datagram IO (`recvmmsg`, `sendmmsg`) with addresses converted to and from
//! `SocketAddr`. Every `unsafe` block of the relay is here, each with the reason it is sound; nothing
//! here knows about calls.

use std::io;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The most datagrams one `recvmmsg` or `sendmmsg` moves.
pub const BATCH: usize = 16;
/// The most batches a clocked job takes from one socket a tick (128 datagrams a frame: a phone sends
/// one; a flood beyond this waits, or the kernel drops it).
pub const BATCHES_PER_TICK: usize = 8;
/// Room for one datagram: an RTP packet is far smaller; a larger one is truncated and dropped.
pub const MTU: usize = 2048;

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// An epoll instance (level-triggered: a socket left with datagrams is reported again).
#[derive(Debug)]
pub struct Epoll(OwnedFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new fd we own.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned to us and is owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Watch `fd` for reading, reporting `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        check(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    /// Stop watching `fd`.
    pub fn remove(&self, fd: RawFd) {
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL; an fd not watched only returns an error.
        unsafe {
            libc::epoll_ctl(
                self.0.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            );
        }
    }

    /// Wait up to `timeout_ms` (-1: forever) and fill `events`; returns how many are ready.
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> usize {
        let max = events.len().min(i32::MAX as usize) as i32;
        // SAFETY: `events` is writable for `max` entries.
        let n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait,
                self.0.as_raw_fd(),
                events.as_mut_ptr(),
                max,
                timeout_ms,
                std::ptr::null::<libc::sigset_t>(),
                8usize,
            )
        };
        n.max(0) as usize
    }
}

/// An eventfd: written by other threads to wake the loop, read by the loop to rearm it.
#[derive(Debug)]
pub struct Waker(OwnedFd);

impl Waker {
    pub fn new() -> io::Result<Waker> {
        // SAFETY: no pointers; a non-negative result is a new fd we own.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: just returned to us, owned by nobody else.
        Ok(Waker(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64; a full counter (EAGAIN) still leaves it readable.
        unsafe {
            libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    pub fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64.
        unsafe {
            libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8);
        }
    }
}

/// Buffers for one batch of datagrams, reused for every call the loop serves.
pub struct Batch {
    bufs: Box<[[u8; MTU]; BATCH]>,
    lens: [usize; BATCH],
    from: [libc::sockaddr_storage; BATCH],
    hdrs: [libc::mmsghdr; BATCH],
    iovs: [libc::iovec; BATCH],
    /// Datagrams received by the last [`Batch::recv`].
    pub count: usize,
}

impl Batch {
    /// Boxed: the headers point into the batch's own buffers, set once here, so it must not move.
    pub fn new() -> Box<Batch> {
        let mut b = Box::new(Batch {
            bufs: Box::new([[0; MTU]; BATCH]),
            lens: [0; BATCH],
            // SAFETY: all-zero is a valid value of these plain C structs (null pointers, zero lengths).
            from: unsafe { zeroed() },
            hdrs: unsafe { zeroed() },
            iovs: unsafe { zeroed() },
            count: 0,
        });
        let b_ref = &mut *b;
        for i in 0..BATCH {
            b_ref.iovs[i] = libc::iovec {
                iov_base: b_ref.bufs[i].as_mut_ptr().cast(),
                iov_len: MTU,
            };
            let h = &mut b_ref.hdrs[i].msg_hdr;
            h.msg_name = (&mut b_ref.from[i] as *mut libc::sockaddr_storage).cast();
            h.msg_iov = &mut b_ref.iovs[i];
            h.msg_iovlen = 1;
        }
        b
    }

    /// Receive what `fd` has waiting, up to [`BATCH`] datagrams, without blocking; returns how many.
    /// Truncated datagrams (over [`MTU`]) count with length 0, so that they are dropped.
    pub fn recv(&mut self, fd: RawFd) -> usize {
        for i in 0..BATCH {
            // The pointers again from this borrow (cheap, and no pointer outlives the borrow it was
            // made from); the kernel wrote the last sender's address length here.
            self.iovs[i].iov_base = self.bufs[i].as_mut_ptr().cast();
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.from[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
            h.msg_iov = &mut self.iovs[i];
        }
        // SAFETY: every header points at live buffers of the lengths given, owned by this boxed batch,
        // which never moves (set up in `new`). The raw system call skips libc's cancellation wrapper.
        let n = unsafe {
            libc::syscall(
                libc::SYS_recvmmsg,
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut::<libc::timespec>(),
            )
        };
        self.count = n.max(0) as usize;
        for i in 0..self.count {
            let truncated = self.hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.lens[i] = if truncated {
                0
            } else {
                self.hdrs[i].msg_len as usize
            };
        }
        self.count
    }

    /// For a clocked job: hand `each` every datagram waiting on `fd` (source and bytes), batch after
    /// batch until the socket is empty, at most [`BATCHES_PER_TICK`] batches (a stranger's flood
    /// cannot keep a party's packets queued behind it for long, nor stall the loop).
    pub fn drain(&mut self, fd: RawFd, mut each: impl FnMut(SocketAddr, &[u8])) {
        for _ in 0..BATCHES_PER_TICK {
            let n = self.recv(fd);
            for i in 0..n {
                if let Some((from, bytes)) = self.packet(i) {
                    each(from, bytes);
                }
            }
            if n < BATCH {
                break;
            }
        }
    }

    /// Datagram `i` of the last receive: its source and its bytes (`None`: truncated or of an
    /// address family that is neither IPv4 nor IPv6).
    pub fn packet(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        let len = self.lens[i];
        if len == 0 {
            return None;
        }
        Some((from_storage(&self.from[i])?, &self.bufs[i][..len]))
    }

    /// Send the datagrams whose indices are in `which` (of the last receive) from `fd` to `to`;
    /// returns how many the kernel took.
    pub fn send(&mut self, fd: RawFd, which: &[usize], to: SocketAddr) -> usize {
        let (mut dest, dest_len) = to_storage(to);
        let k = which.len().min(BATCH);
        let mut hdrs: [MaybeUninit<libc::mmsghdr>; BATCH] = [MaybeUninit::uninit(); BATCH];
        let mut iovs: [MaybeUninit<libc::iovec>; BATCH] = [MaybeUninit::uninit(); BATCH];
        for (slot, &i) in which[..k].iter().enumerate() {
            let iov = iovs[slot].write(libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.lens[i],
            });
            // SAFETY: all-zero is a valid msghdr; the fields that matter are set below.
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name = (&mut dest as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = dest_len;
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            hdrs[slot].write(h);
        }
        if k == 0 {
            return 0;
        }
        // SAFETY: the first `k` headers were written above and point at `dest` and at buffers owned by
        // `self`, all alive for the call.
        let n = unsafe {
            libc::syscall(
                libc::SYS_sendmmsg,
                fd,
                hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
                k as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        n.max(0) as usize
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("count", &self.count).finish()
    }
}

/// The address in a `sockaddr_storage` the kernel filled.
fn from_storage(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large enough for.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// `addr` as a `sockaddr_storage` and the length of the part that matters.
fn to_storage(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut s: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and suitably aligned for a sockaddr_in.
            let sin = unsafe { &mut *(&mut s as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut s as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (s, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_survive_the_round_trip_through_sockaddr_storage() {
        for a in ["127.0.0.1:5004", "[::1]:40000", "[fe80::1%3]:9"] {
            let addr: SocketAddr = a.parse().unwrap();
            let (s, _) = to_storage(addr);
            assert_eq!(from_storage(&s), Some(addr));
        }
    }

    #[test]
    fn a_batch_receives_several_datagrams_and_sends_them_on_in_order() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let out = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..5u8 {
            tx.send_to(&[i; 100], rx.local_addr().unwrap()).unwrap();
        }
        let mut b = Batch::new();
        let mut got = 0;
        for _ in 0..100 {
            got += b.recv(rx.as_raw_fd());
            if got == 5 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(b.count, 5, "one recvmmsg took the five waiting datagrams");
        let (src, bytes) = b.packet(3).unwrap();
        assert_eq!(src, tx.local_addr().unwrap());
        assert_eq!(bytes, &[3u8; 100][..]);
        assert_eq!(
            b.send(rx.as_raw_fd(), &[0, 2, 4], out.local_addr().unwrap()),
            3
        );
        let mut buf = [0u8; 200];
        for want in [0u8, 2, 4] {
            let (n, from) = out.recv_from(&mut buf).unwrap();
            assert_eq!((n, buf[0], from), (100, want, rx.local_addr().unwrap()));
        }
    }
}
