// Loads Paho's MQTTAsync library at run time and calls it. Why: Debian builds it twice, libpaho-mqtt3as with
// TLS (it needs OpenSSL, which the dynamic loader then maps and relocates at every start) and libpaho-mqtt3a
// without; linking one would make every process pay for OpenSSL or none have TLS. A process loads one build,
// once, and keeps it: the tools load the one their flags need; the library, asked for no particular build,
// loads the one with TLS.

#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// Every Paho function the client calls: the struct field, then Paho's name.
#define PAHO_FUNCTIONS(X)                                                                                        \
    X(createWithOptions, MQTTAsync_createWithOptions)                                                            \
    X(setCallbacks, MQTTAsync_setCallbacks)                                                                      \
    X(setDisconnected, MQTTAsync_setDisconnected)                                                                \
    X(destroy, MQTTAsync_destroy)                                                                                \
    X(isConnected, MQTTAsync_isConnected)                                                                        \
    X(connect, MQTTAsync_connect)                                                                                \
    X(disconnect, MQTTAsync_disconnect)                                                                          \
    X(send, MQTTAsync_send)                                                                                      \
    X(subscribeMany, MQTTAsync_subscribeMany)                                                                    \
    X(unsubscribeMany, MQTTAsync_unsubscribeMany)                                                                \
    X(freeMessage, MQTTAsync_freeMessage)                                                                        \
    X(free, MQTTAsync_free)                                                                                      \
    X(strerror, MQTTAsync_strerror)                                                                              \
    X(getVersionInfo, MQTTAsync_getVersionInfo)                                                                  \
    X(setTraceLevel, MQTTAsync_setTraceLevel)                                                                    \
    X(globalInit, MQTTAsync_global_init)                                                                         \
    X(propertiesAdd, MQTTProperties_add)                                                                         \
    X(propertiesFree, MQTTProperties_free)                                                                       \
    X(propertiesHas, MQTTProperties_hasProperty)                                                                 \
    X(propertiesNumber, MQTTProperties_getNumericValue)                                                          \
    X(reasonText, MQTTReasonCode_toString)

// The loaded build's functions, typed by Paho's own declarations. Written once under `lock`, before the first
// client exists (so before any Paho thread), and never again; `loaded` is set last.
static struct {
#define PAHO_FIELD(field, name) __typeof__(name) *field;
    PAHO_FUNCTIONS(PAHO_FIELD)
#undef PAHO_FIELD
} paho;
static int loaded;
static int loadedTLS;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int load(int tls, char *error, size_t errorSize) {
    const char *soname = tls ? "libpaho-mqtt3as.so.1" : "libpaho-mqtt3a.so.1";
    // RTLD_LOCAL: Paho's names stay out of the process's global scope.
    void *library = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(error, errorSize, "%s", dlerror());
        return -1;
    }
#define PAHO_RESOLVE(field, name)                                                                                \
    paho.field = (__typeof__(name) *)dlsym(library, #name);                                                      \
    if (paho.field == NULL) {                                                                                    \
        snprintf(error, errorSize, "%s has no %s", soname, #name);                                              \
        dlclose(library);                                                                                        \
        return -1;                                                                                               \
    }
    PAHO_FUNCTIONS(PAHO_RESOLVE)
#undef PAHO_RESOLVE

    // Paho's own OpenSSL set-up, done at its first client whether or not TLS is used, is for OpenSSL 1.0: it
    // loads every error string into a hash table, every algorithm and the config file, and installs locking
    // callbacks (about 2 ms of CPU per start). OpenSSL 1.1 and later initialise themselves on first use and
    // need no callbacks, so where `OPENSSL_init_ssl` (1.1.0 on) is, Paho is told to leave it.
    if (tls && dlsym(library, "OPENSSL_init_ssl") != NULL) {
        MQTTAsync_init_options options = MQTTAsync_init_options_initializer;
        options.do_openssl_init = 0;
        paho.globalInit(&options);
    }
    // Paho formats every packet into its in-memory trace buffer by default (vsnprintf per message, 3% of a
    // listener's time); nobody reads it unless MQTT_C_CLIENT_TRACE asks for traces.
    if (getenv("MQTT_C_CLIENT_TRACE") == NULL) paho.setTraceLevel(MQTTASYNC_TRACE_ERROR);
    loadedTLS = tls;
    __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
    return 0;
}

int cpaho_load(int tls, int *hasTLS, char *error, size_t errorSize) {
    pthread_mutex_lock(&lock);
    int rc = __atomic_load_n(&loaded, __ATOMIC_ACQUIRE) ? 0 : load(tls != 0, error, errorSize);
    if (rc == 0) *hasTLS = loadedTLS;
    pthread_mutex_unlock(&lock);
    return rc;
}

static int isLoaded(void) { return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE); }

int cpaho_createWithOptions(MQTTAsync *handle, const char *serverURI, const char *clientId, int persistenceType,
                            void *persistenceContext, MQTTAsync_createOptions *options) {
    return paho.createWithOptions(handle, serverURI, clientId, persistenceType, persistenceContext, options);
}

int cpaho_setCallbacks(MQTTAsync handle, void *context, MQTTAsync_connectionLost *cl,
                       MQTTAsync_messageArrived *ma, MQTTAsync_deliveryComplete *dc) {
    return paho.setCallbacks(handle, context, cl, ma, dc);
}

int cpaho_setDisconnected(MQTTAsync handle, void *context, MQTTAsync_disconnected *co) {
    return paho.setDisconnected(handle, context, co);
}

void cpaho_destroy(MQTTAsync *handle) { paho.destroy(handle); }

int cpaho_isConnected(MQTTAsync handle) { return paho.isConnected(handle); }

int cpaho_connect(MQTTAsync handle, const MQTTAsync_connectOptions *options) {
    return paho.connect(handle, options);
}

int cpaho_disconnect(MQTTAsync handle, const MQTTAsync_disconnectOptions *options) {
    return paho.disconnect(handle, options);
}

int cpaho_send(MQTTAsync handle, const char *destinationName, int payloadlen, const void *payload, int qos,
               int retained, MQTTAsync_responseOptions *response) {
    return paho.send(handle, destinationName, payloadlen, payload, qos, retained, response);
}

int cpaho_subscribeMany(MQTTAsync handle, int count, char *const *topic, const int *qos,
                        MQTTAsync_responseOptions *response) {
    return paho.subscribeMany(handle, count, topic, qos, response);
}

int cpaho_unsubscribeMany(MQTTAsync handle, int count, char *const *topic, MQTTAsync_responseOptions *response) {
    return paho.unsubscribeMany(handle, count, topic, response);
}

void cpaho_freeMessage(MQTTAsync_message **message) { paho.freeMessage(message); }

void cpaho_free(void *memory) { paho.free(memory); }

int cpaho_propertiesAdd(MQTTProperties *props, const MQTTProperty *prop) { return paho.propertiesAdd(props, prop); }

void cpaho_propertiesFree(MQTTProperties *properties) { paho.propertiesFree(properties); }

int cpaho_propertiesHas(MQTTProperties *props, enum MQTTPropertyCodes propid) {
    return paho.propertiesHas(props, propid);
}

int cpaho_propertiesNumber(MQTTProperties *props, enum MQTTPropertyCodes propid) {
    return paho.propertiesNumber(props, propid);
}

const char *cpaho_strerror(int code) { return isLoaded() ? paho.strerror(code) : NULL; }

const char *cpaho_reasonText(enum MQTTReasonCodes value) { return isLoaded() ? paho.reasonText(value) : NULL; }

MQTTAsync_nameValue *cpaho_versionInfo(void) { return isLoaded() ? paho.getVersionInfo() : NULL; }
