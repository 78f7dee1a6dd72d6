/* Each stdin line as one message, at most WINDOW unacknowledged: floor-pipe HOST PORT TOPIC QOS WINDOW */
#include "floor.h"

static sem_t window_slots;

static void published(void* context, MQTTAsync_successData5* data) {
    (void)context; (void)data;
    sem_post(&window_slots);
}

int main(int argc, char** argv) {
    if (argc != 6) { fprintf(stderr, "usage: floor-pipe host port topic qos window\n"); return 64; }
    int window = atoi(argv[5]);
    sem_init(&window_slots, 0, (unsigned)window);
    char id[64];
    snprintf(id, sizeof id, "floor-pipe-%d", (int)getpid());
    MQTTAsync client = floor_connect(argv[1], argv[2], id, window, NULL);
    static char line[65536];
    while (fgets(line, sizeof line, stdin)) {
        size_t length = strlen(line);
        if (length > 0 && line[length - 1] == '\n') line[--length] = 0;
        if (length == 0) continue;
        sem_wait(&window_slots);
        MQTTAsync_message message = MQTTAsync_message_initializer;
        message.payload = line; /* Paho copies the payload before sendMessage returns */
        message.payloadlen = (int)length;
        message.qos = atoi(argv[4]);
        MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
        response.onSuccess5 = published;
        response.onFailure5 = floor_failed;
        response.context = "publish";
        int rc = MQTTAsync_sendMessage(client, argv[3], &message, &response);
        if (rc != MQTTASYNC_SUCCESS) { fprintf(stderr, "send failed: %d\n", rc); return 1; }
    }
    for (int i = 0; i < window; i++) sem_wait(&window_slots);
    floor_disconnect_and_exit(client);
}
