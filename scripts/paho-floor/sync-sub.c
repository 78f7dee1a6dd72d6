/* Prints each payload as a line until COUNT have arrived, resuming session ID, over the synchronous API:
 * floor-sync-sub HOST PORT TOPIC ID COUNT [QOS] (COUNT 0: subscribe, then disconnect at once, leaving the
 * session for messages to queue in; QOS defaults to 1). */
#include "sync.h"

static long seen;

static void arrived(char* topic, MQTTClient_message* message) {
    fwrite(message->payload, 1, (size_t)message->payloadlen, stdout);
    fputc('\n', stdout);
    MQTTClient_freeMessage(&message);
    MQTTClient_free(topic);
    seen++;
}

int main(int argc, char** argv) {
    if (argc != 6 && argc != 7) { fprintf(stderr, "usage: floor-sync-sub host port topic id count [qos]\n"); return 64; }
    long wanted = atol(argv[5]);
    int qos = argc == 7 ? atoi(argv[6]) : 1;
    MQTTClient client = sync_connect(argv[1], argv[2], argv[4], 1, 10);
    int fd = sync_socket(atoi(argv[2]));
    MQTTSubscribe_options options = MQTTSubscribe_options_initializer;
    MQTTResponse response = MQTTClient_subscribe5(client, argv[3], qos, &options, NULL);
    if (response.reasonCode > 2) sync_fail("subscribe", response.reasonCode);
    MQTTResponse_free(response);
    /* Messages that came with the SUBACK wait in Paho's queue: MQTTClient_receive hands them out first. */
    for (;;) {
        char* topic = NULL;
        int topic_length = 0;
        MQTTClient_message* message = NULL;
        if (MQTTClient_receive(client, &topic, &topic_length, &message, 0) != MQTTCLIENT_SUCCESS || !message) break;
        arrived(topic, message);
    }
    while (seen < wanted) sync_drain(client, fd, 1000, arrived);
    sync_disconnect_and_exit(client);
}
