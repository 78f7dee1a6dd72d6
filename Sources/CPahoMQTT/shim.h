#ifndef CPAHOMQTT_SHIM_H
#define CPAHOMQTT_SHIM_H

#include <MQTTAsync.h>
#include <MQTTProperties.h>
#include <MQTTReasonCodes.h>
#include <MQTTSubscribeOpts.h>
#include <MQTTClientPersistence.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>

// Paho checks each struct's eyecatcher and version, so zero-filled structs are rejected (-8, -19).
// Its brace-initializer macros do not import into Swift; each function below stands for one macro.

/// MQTTAsync_createOptions_initializer5
static inline MQTTAsync_createOptions cpaho_createOptions5(void) {
    MQTTAsync_createOptions o = MQTTAsync_createOptions_initializer5;
    return o;
}

/// MQTTAsync_createOptions_initializer
static inline MQTTAsync_createOptions cpaho_createOptions(void) {
    MQTTAsync_createOptions o = MQTTAsync_createOptions_initializer;
    return o;
}

/// MQTTAsync_connectOptions_initializer5
static inline MQTTAsync_connectOptions cpaho_connectOptions5(void) {
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
    return o;
}

/// MQTTAsync_connectOptions_initializer
static inline MQTTAsync_connectOptions cpaho_connectOptions(void) {
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    return o;
}

/// MQTTAsync_willOptions_initializer
static inline MQTTAsync_willOptions cpaho_willOptions(void) {
    MQTTAsync_willOptions o = MQTTAsync_willOptions_initializer;
    return o;
}

/// MQTTAsync_SSLOptions_initializer
static inline MQTTAsync_SSLOptions cpaho_sslOptions(void) {
    MQTTAsync_SSLOptions o = MQTTAsync_SSLOptions_initializer;
    return o;
}

/// MQTTAsync_responseOptions_initializer
static inline MQTTAsync_responseOptions cpaho_responseOptions(void) {
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    return o;
}

/// MQTTAsync_message_initializer
static inline MQTTAsync_message cpaho_message(void) {
    MQTTAsync_message o = MQTTAsync_message_initializer;
    return o;
}

/// MQTTAsync_disconnectOptions_initializer5
static inline MQTTAsync_disconnectOptions cpaho_disconnectOptions5(void) {
    MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer5;
    return o;
}

/// MQTTAsync_disconnectOptions_initializer
static inline MQTTAsync_disconnectOptions cpaho_disconnectOptions(void) {
    MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
    return o;
}

/// MQTTProperties_initializer
static inline MQTTProperties cpaho_properties(void) {
    MQTTProperties o = MQTTProperties_initializer;
    return o;
}

/// MQTTSubscribe_options_initializer
static inline MQTTSubscribe_options cpaho_subscribeOptions(void) {
    MQTTSubscribe_options o = MQTTSubscribe_options_initializer;
    return o;
}

/// Adds a four-byte integer property (session expiry) without touching the union from Swift.
static inline int cpaho_addIntProperty(MQTTProperties *props, enum MQTTPropertyCodes code, int value) {
    MQTTProperty p;
    p.identifier = code;
    p.value.integer4 = value;
    return MQTTProperties_add(props, &p);
}

/// Whether the calling thread carries `name` (Paho names its threads "MQTTAsync_rcv", "MQTTAsync_send").
/// prctl is variadic, so Swift cannot call it; it is one system call, with no allocation or lock.
static inline int cpaho_current_thread_is(const char *name) {
    char current[16] = {0};  // the kernel's limit, NUL included
    return prctl(PR_GET_NAME, current) == 0 && strcmp(current, name) == 0;
}

/// The leading fields of Paho's `Clients` (src/Clients.h) up to `net.socket`, as Paho 1.3.11 and 1.3.12 lay
/// them out on Linux (START_TIME_TYPE is a struct timeval there).
struct cpaho_clients_prefix {
    char *clientID;
    const char *username;
    int passwordlen;
    const void *password;
    unsigned int cleansession : 1, cleanstart : 1, connected : 1, good : 1, ping_outstanding : 1, ping_due : 1;
    signed int connect_state : 4;
    struct timeval ping_due_time;
    int socket;  // net.socket: networkHandles starts with it
};

/// The leading fields of Paho's `MQTTAsyncs` (src/MQTTAsyncUtils.h), what an `MQTTAsync` handle points to.
struct cpaho_async_prefix {
    char *serverURI;
    int ssl;
    int websocket;
    struct cpaho_clients_prefix *c;
};

/// The socket of the client behind `handle`, or -1. Paho has no call that returns it; this reads the fields
/// above, so callers use it only with the Paho build they mirror. The client id found there must be
/// `clientID`: a layout that differs reads something else there and gets -1, not a wrong descriptor.
static inline int cpaho_socket_of(MQTTAsync handle, const char *clientID) {
    const struct cpaho_async_prefix *client = (const struct cpaho_async_prefix *)handle;
    if (client == NULL || client->c == NULL || client->c->clientID == NULL) return -1;
    if (strcmp(client->c->clientID, clientID) != 0) return -1;
    return client->c->socket;
}

#endif
