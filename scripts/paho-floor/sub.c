/* Prints each payload as a line until COUNT have arrived, resuming session ID: floor-sub HOST PORT TOPIC ID COUNT [QOS]
 * (COUNT 0: subscribe, then disconnect at once, leaving the session for messages to queue in; QOS defaults to 1). */
#include "floor.h"

static long wanted, seen;

static int arrived(void* context, char* topic, int topic_length, MQTTAsync_message* message) {
    (void)context; (void)topic_length;
    fwrite(message->payload, 1, (size_t)message->payloadlen, stdout);
    fputc('\n', stdout);
    MQTTAsync_freeMessage(&message);
    MQTTAsync_free(topic);
    if (++seen == wanted) sem_post(&floor_done);
    return 1;
}

int main(int argc, char** argv) {
    if (argc != 6 && argc != 7) { fprintf(stderr, "usage: floor-sub host port topic id count [qos]\n"); return 64; }
    wanted = atol(argv[5]);
    int qos = argc == 7 ? atoi(argv[6]) : 1;
    MQTTAsync client = floor_connect(argv[1], argv[2], argv[4], 10, arrived);
    MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
    response.onSuccess5 = floor_succeeded;
    response.onFailure5 = floor_failed;
    response.context = "subscribe";
    MQTTAsync_subscribe(client, argv[3], qos, &response);
    sem_wait(&floor_done);
    if (wanted > 0) sem_wait(&floor_done);
    floor_disconnect_and_exit(client);
}
