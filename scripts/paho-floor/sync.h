/* Shared by the sync floor programs: the least a client over Paho's synchronous MQTTClient API can do, on
 * one thread with no callbacks but `published` (which Paho calls from inside MQTTClient_receive, on the
 * caller's thread): no send or receive thread, no locks handed between them. Acknowledgements are read by
 * polling Paho's socket with a zero timeout and calling MQTTClient_receive(..., 0) while it is readable,
 * never by MQTTClient_waitForCompletion or MQTTClient_yield, which wait in 100 ms steps. */
#include <MQTTClient.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

static long sync_acknowledged; /* QoS 1/2 publishes the broker completed (PUBACK, PUBCOMP) */

static void sync_published(void* context, int token, int packet_type, MQTTProperties* properties,
                           enum MQTTReasonCodes reason) {
    (void)context; (void)token; (void)packet_type; (void)properties;
    if (reason >= MQTTREASONCODE_UNSPECIFIED_ERROR) { fprintf(stderr, "publish refused: %d\n", reason); _exit(1); }
    sync_acknowledged++;
}

static void sync_fail(const char* what, int rc) {
    fprintf(stderr, "%s failed: %d %s\n", what, rc, MQTTClient_strerror(rc) ? MQTTClient_strerror(rc) : "");
    _exit(1);
}

/* Paho's socket for this client: MQTTClient has no accessor, so the one TCP socket connected to `port`. */
static int sync_socket(int port) {
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_in peer;
        socklen_t length = sizeof peer;
        if (getpeername(fd, (struct sockaddr*)&peer, &length) == 0 && peer.sin_family == AF_INET
            && ntohs(peer.sin_port) == port)
            return fd;
    }
    fprintf(stderr, "no socket to port %d\n", port);
    _exit(1);
}

/* Creates a client for "host port" and connects with MQTT 5 (MQTTClient_connect5 waits 100 ms in poll for
 * input before it sends CONNECT: the TCP connect is non-blocking and Paho checks it only after that poll). */
static MQTTClient sync_connect(const char* host, const char* port, const char* id, int session, int window) {
    char uri[256];
    snprintf(uri, sizeof uri, "tcp://%s:%s", host, port);
    MQTTClient client;
    MQTTClient_createOptions create = MQTTClient_createOptions_initializer;
    create.MQTTVersion = MQTTVERSION_5;
    int rc = MQTTClient_createWithOptions(&client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &create);
    if (rc != MQTTCLIENT_SUCCESS) sync_fail("create", rc);
    MQTTClient_setPublished(client, NULL, sync_published);
    MQTTClient_connectOptions options = MQTTClient_connectOptions_initializer5;
    options.cleanstart = session ? 0 : 1;
    /* The initializer's `reliable` 1 allows one publish in flight, and a publish past the limit blocks in
     * MQTTClient_yield's 100 ms steps; Paho caps this by the broker's Receive Maximum itself. */
    options.reliable = 0;
    options.maxInflightMessages = window;
    MQTTProperties properties = MQTTProperties_initializer;
    MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL, .value.integer4 = 300};
    if (session) MQTTProperties_add(&properties, &expiry);
    MQTTResponse response = MQTTClient_connect5(client, &options, &properties, NULL);
    if (response.reasonCode != MQTTCLIENT_SUCCESS) sync_fail("connect", response.reasonCode);
    MQTTResponse_free(response);
    MQTTProperties_free(&properties);
    return client;
}

/* Reads what has arrived without waiting (timeout_ms 0) or waits for the socket up to timeout_ms; returns
 * each message through `arrived` (which frees it). */
static inline void sync_drain(MQTTClient client, int fd, int timeout_ms,
                       void (*arrived)(char* topic, MQTTClient_message* message)) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, timeout_ms) > 0) {
        timeout_ms = 0;
        char* topic = NULL;
        int topic_length = 0;
        MQTTClient_message* message = NULL;
        int rc = MQTTClient_receive(client, &topic, &topic_length, &message, 0);
        if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) sync_fail("receive", rc);
        if (message) {
            if (arrived) arrived(topic, message);
            else { MQTTClient_freeMessage(&message); MQTTClient_free(topic); }
        }
    }
}

/* Reads what has arrived and returns once the socket can take a publish without a partial write (a publish
 * that finds Paho still writing the last one waits in MQTTClient_yield's 100 ms steps). One poll per call
 * when nothing has arrived and the socket is writable. */
static inline void sync_writable(MQTTClient client, int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    for (;;) {
        if (poll(&p, 1, 1000) <= 0) continue;
        if (p.revents & POLLIN) {
            char* topic = NULL;
            int topic_length = 0;
            MQTTClient_message* message = NULL;
            int rc = MQTTClient_receive(client, &topic, &topic_length, &message, 0);
            if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) sync_fail("receive", rc);
            if (message) { MQTTClient_freeMessage(&message); MQTTClient_free(topic); }
            continue;
        }
        if (p.revents & (POLLERR | POLLHUP)) sync_fail("poll", -1);
        if (p.revents & POLLOUT) return;
    }
}

/* Disconnects (no wait for in-flight messages: the callers have drained them) and exits without destroy. */
static void sync_disconnect_and_exit(MQTTClient client) {
    MQTTClient_disconnect5(client, 0, MQTTREASONCODE_SUCCESS, NULL);
    fflush(stdout);
    _exit(0);
}
