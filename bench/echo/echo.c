/* The benchmark's physical floor for packets: a trivial UDP echo, one socket per stream on
 * BASE..BASE+N-1 (127.0.0.1), epoll, and per packet one recvfrom and one sendto back to the sender.
 * It is what a naive relay loop costs; bench/run drives it with the same load generator and packet
 * rate as Parley's relay phase and divides Parley's CPU per packet by its own.
 * Usage: echo BASE_PORT N   (runs until killed) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: echo BASE_PORT N\n");
        return 2;
    }
    int base = atoi(argv[1]), n = atoi(argv[2]);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int size = 1 << 20;
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        setsockopt(s, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(base + i)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
            perror("bind");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    }
    printf("ready\n");
    fflush(stdout);
    struct epoll_event events[256];
    char buf[2048];
    for (;;) {
        int k = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < k; i++) {
            int s = events[i].data.fd;
            for (;;) {
                struct sockaddr_in from;
                socklen_t len = sizeof from;
                ssize_t r = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
                if (r < 0)
                    break;
                sendto(s, buf, (size_t)r, 0, (struct sockaddr *)&from, len);
            }
        }
    }
}
