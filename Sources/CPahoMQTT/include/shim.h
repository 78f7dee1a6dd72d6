#ifndef CPAHOMQTT_SHIM_H
#define CPAHOMQTT_SHIM_H

#include <MQTTAsync.h>
#include <MQTTProperties.h>
#include <MQTTReasonCodes.h>
#include <MQTTSubscribeOpts.h>
#include <MQTTClientPersistence.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>

// Paho is loaded at run time, not linked (PahoLoader.c): a client without TLS does not need OpenSSL, which
// libpaho-mqtt3as loads at start whether or not it is used (about 2 MiB of memory and 2 ms of CPU per
// start). Every call into Paho goes through the cpaho_ functions below, which call the loaded build.

/// Loads Paho for this process, unless a build is loaded already: libpaho-mqtt3as (with TLS) when `tls` is
/// nonzero, else libpaho-mqtt3a. Sets `*hasTLS` to whether the loaded build has TLS. Returns 0, or -1 with a
/// one-line reason in `error`. A build once loaded stays for the life of the process.
int cpaho_load(int tls, int *hasTLS, char *error, size_t errorSize);

int cpaho_createWithOptions(MQTTAsync *handle, const char *serverURI, const char *clientId, int persistenceType,
                            void *persistenceContext, MQTTAsync_createOptions *options);
int cpaho_setCallbacks(MQTTAsync handle, void *context, MQTTAsync_connectionLost *cl,
                       MQTTAsync_messageArrived *ma, MQTTAsync_deliveryComplete *dc);
int cpaho_setDisconnected(MQTTAsync handle, void *context, MQTTAsync_disconnected *co);
void cpaho_destroy(MQTTAsync *handle);
int cpaho_isConnected(MQTTAsync handle);
int cpaho_connect(MQTTAsync handle, const MQTTAsync_connectOptions *options);
int cpaho_disconnect(MQTTAsync handle, const MQTTAsync_disconnectOptions *options);
int cpaho_send(MQTTAsync handle, const char *destinationName, int payloadlen, const void *payload, int qos,
               int retained, MQTTAsync_responseOptions *response);
int cpaho_subscribeMany(MQTTAsync handle, int count, char *const *topic, const int *qos,
                        MQTTAsync_responseOptions *response);
int cpaho_unsubscribeMany(MQTTAsync handle, int count, char *const *topic, MQTTAsync_responseOptions *response);
void cpaho_freeMessage(MQTTAsync_message **message);
void cpaho_free(void *memory);
int cpaho_propertiesAdd(MQTTProperties *props, const MQTTProperty *prop);
void cpaho_propertiesFree(MQTTProperties *properties);
int cpaho_propertiesHas(MQTTProperties *props, enum MQTTPropertyCodes propid);
int cpaho_propertiesNumber(MQTTProperties *props, enum MQTTPropertyCodes propid);

/// Paho's text for a return code or a reason code, and its version table: NULL while no build is loaded.
const char *cpaho_strerror(int code);
const char *cpaho_reasonText(enum MQTTReasonCodes value);
MQTTAsync_nameValue *cpaho_versionInfo(void);

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
    return cpaho_propertiesAdd(props, &p);
}

/// Whether the calling thread carries `name` (Paho names its threads "MQTTAsync_rcv", "MQTTAsync_send").
/// prctl is variadic, so Swift cannot call it; it is one system call, with no allocation or lock.
static inline int cpaho_current_thread_is(const char *name) {
    char current[16] = {0};  // the kernel's limit, NUL included
    return prctl(PR_GET_NAME, current) == 0 && strcmp(current, name) == 0;
}

/// A non-blocking eventfd (closed on exec) for PahoWaits.swift to wake Paho's receive thread with; -1 if the
/// system gives none. Swift's Glibc module does not bring in <sys/eventfd.h>.
static inline int cpaho_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

/// The CPU the calling thread runs on, or -1 (OneCPU.swift). sched_getcpu and sched_setaffinity need
/// _GNU_SOURCE, which this header comes too late to set, so both are the raw system calls.
static inline int cpaho_current_cpu(void) {
    unsigned cpu = 0;
    return syscall(SYS_getcpu, &cpu, NULL, NULL) == 0 ? (int)cpu : -1;
}

/// Keeps thread `tid` on CPU `cpu` alone (below 1024); 0, or -1 with errno.
static inline int cpaho_keep_on_cpu(int tid, int cpu) {
    enum { bits = 8 * sizeof(unsigned long) };
    unsigned long mask[1024 / bits] = {0};
    if (cpu < 0 || cpu >= 1024) return -1;
    mask[cpu / bits] = 1UL << (cpu % bits);
    return syscall(SYS_sched_setaffinity, tid, sizeof mask, mask) == 0 ? 0 : -1;
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
/// above, so it must be called only with a Paho build whose layout they mirror (TCPNoDelay checks the
/// version first): with another layout these pointers are not what they seem, and following them could
/// read garbage or crash. The client id check only catches a mirrored layout pointing at another client.
static inline int cpaho_socket_of(MQTTAsync handle, const char *clientID) {
    const struct cpaho_async_prefix *client = (const struct cpaho_async_prefix *)handle;
    if (client == NULL || client->c == NULL || client->c->clientID == NULL) return -1;
    if (strcmp(client->c->clientID, clientID) != 0) return -1;
    return client->c->socket;
}

#endif
