/* Shared by the Paho floor programs: connect, wait, fail loudly. These programs do the least a client over
 * Paho's MQTTAsync can do (no JSON, no reconnects, no Swift), so the benchmark can show which part of a gap
 * to mosquitto's clients is Paho's own. */
#include <MQTTAsync.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sem_t floor_done;

static void floor_succeeded(void* context, MQTTAsync_successData5* data) {
    (void)context; (void)data;
    sem_post(&floor_done);
}

static void floor_failed(void* context, MQTTAsync_failureData5* data) {
    fprintf(stderr, "%s failed: %d %s\n", (const char*)context, data->code, data->message ? data->message : "");
    _exit(1);
}

/* Creates a client for argv-style "host port" and connects with MQTT 5; returns once connected. */
static MQTTAsync floor_connect(const char* host, const char* port, const char* id, int window,
                               MQTTAsync_messageArrived* arrived) {
    char uri[256];
    snprintf(uri, sizeof uri, "tcp://%s:%s", host, port);
    sem_init(&floor_done, 0, 0);
    MQTTAsync client;
    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer5;
    create.sendWhileDisconnected = 1;
    create.maxBufferedMessages = 65535;
    if (MQTTAsync_createWithOptions(&client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &create) != MQTTASYNC_SUCCESS)
        floor_failed("create", &(MQTTAsync_failureData5)MQTTAsync_failureData5_initializer);
    if (arrived)
        MQTTAsync_setCallbacks(client, NULL, NULL, arrived, NULL);
    MQTTAsync_connectOptions options = MQTTAsync_connectOptions_initializer5;
    options.onSuccess5 = floor_succeeded;
    options.onFailure5 = floor_failed;
    options.context = "connect";
    options.maxInflight = window;
    options.cleanstart = arrived ? 0 : 1;
    /* A workshop's broker wants a user and a password (FLOOR_USERNAME, MQTT_PASSWORD as the tools read it). */
    options.username = getenv("FLOOR_USERNAME");
    options.password = getenv("MQTT_PASSWORD");
    MQTTProperties properties = MQTTProperties_initializer;
    MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL, .value.integer4 = 300};
    if (arrived) {
        MQTTProperties_add(&properties, &expiry);
        options.connectProperties = &properties;
    }
    MQTTAsync_connect(client, &options);
    sem_wait(&floor_done);
    return client;
}

/* Disconnects and exits without MQTTAsync_destroy (whose last-client teardown sleeps in 100 ms steps). */
static void floor_disconnect_and_exit(MQTTAsync client) {
    MQTTAsync_disconnectOptions options = MQTTAsync_disconnectOptions_initializer5;
    options.onSuccess5 = floor_succeeded;
    options.onFailure5 = floor_failed;
    options.context = "disconnect";
    MQTTAsync_disconnect(client, &options);
    sem_wait(&floor_done);
    fflush(stdout);
    _exit(0);
}
