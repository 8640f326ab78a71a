/* A custom runtime's bootstrap in C: answers each event with {"lang": "c", "event": EVENT}
   (tests/api/test_custom_runtimes.py and bench/runtimes.py compile it with gcc). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char host[64];
static int port;

/* One request on a fresh connection (Connection: close): the whole answer into out. */
static void talk(const char *request, int length, char *out, int size) {
    struct sockaddr_in address = {0};
    int s = socket(AF_INET, SOCK_STREAM, 0), n = 0, got;
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    inet_pton(AF_INET, host, &address.sin_addr);
    if (connect(s, (struct sockaddr *)&address, sizeof address) < 0) exit(2);
    if (write(s, request, length) != length) exit(2);
    while ((got = read(s, out + n, size - 1 - n)) > 0) n += got;
    out[n] = 0;
    close(s);
}

int main(void) {
    static char answer[65536], request[70000], body[66000], id[128];
    sscanf(getenv("AWS_LAMBDA_RUNTIME_API"), "%63[^:]:%d", host, &port);
    printf("c runtime ready\n");
    fflush(stdout);
    for (;;) {
        int n = snprintf(request, sizeof request, "GET /2018-06-01/runtime/invocation/next"
            " HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n");
        talk(request, n, answer, sizeof answer);
        sscanf(strcasestr(answer, "Lambda-Runtime-Aws-Request-Id:") + 30, " %127[^\r]", id);
        int m = snprintf(body, sizeof body, "{\"lang\": \"c\", \"event\": %s}",
                         strstr(answer, "\r\n\r\n") + 4);
        n = snprintf(request, sizeof request,
            "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: r\r\n"
            "Connection: close\r\nContent-Length: %d\r\n\r\n%s", id, m, body);
        talk(request, n, answer, sizeof answer);
    }
}
