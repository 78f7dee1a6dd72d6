/* One message, connect to exit: floor-oneshot HOST PORT TOPIC MESSAGE QOS */
#include "floor.h"

int main(int argc, char** argv) {
    if (argc != 6) { fprintf(stderr, "usage: floor-oneshot host port topic message qos\n"); return 64; }
    char id[64];
    snprintf(id, sizeof id, "floor-oneshot-%d", (int)getpid());
    MQTTAsync client = floor_connect(argv[1], argv[2], id, 10, NULL);
    MQTTAsync_message message = MQTTAsync_message_initializer;
    message.payload = argv[4];
    message.payloadlen = (int)strlen(argv[4]);
    message.qos = atoi(argv[5]);
    MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
    response.onSuccess5 = floor_succeeded;
    response.onFailure5 = floor_failed;
    response.context = "publish";
    MQTTAsync_sendMessage(client, argv[3], &message, &response);
    sem_wait(&floor_done);
    floor_disconnect_and_exit(client);
}
