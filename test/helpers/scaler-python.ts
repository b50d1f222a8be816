/**
 * A second gRPC implementation for the contract test: python3-grpcio (Debian) with message
 * classes built at run time from hand-written descriptors (no grpcio-tools, no generated stubs).
 * Usage: python3 -c PYTHON_CLIENT ADDRESS METRIC_NAME -> one JSON line.
 */
export const PYTHON_CLIENT = String.raw`
import json, sys
import grpc
from google.protobuf import descriptor_pb2, message_factory

address, metric_name = sys.argv[1], sys.argv[2]
F = descriptor_pb2.FieldDescriptorProto
fdp = descriptor_pb2.FileDescriptorProto(name='externalscaler.proto', package='externalscaler', syntax='proto3')

def msg(name, fields, nested=()):
    m = fdp.message_type.add(name=name)
    for n in nested:
        m.nested_type.add().CopyFrom(n)
    for (fname, num, ftype, label, tname) in fields:
        f = m.field.add(name=fname, number=num, type=ftype, label=label, json_name=fname)
        if tname:
            f.type_name = tname
    return m

OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
entry = descriptor_pb2.DescriptorProto(name='ScalerMetadataEntry')
entry.field.add(name='key', number=1, type=F.TYPE_STRING, label=OPT, json_name='key')
entry.field.add(name='value', number=2, type=F.TYPE_STRING, label=OPT, json_name='value')
entry.options.map_entry = True
msg('ScaledObjectRef', [('name', 1, F.TYPE_STRING, OPT, None), ('namespace', 2, F.TYPE_STRING, OPT, None),
    ('scalerMetadata', 3, F.TYPE_MESSAGE, REP, '.externalscaler.ScaledObjectRef.ScalerMetadataEntry')], [entry])
msg('IsActiveResponse', [('result', 1, F.TYPE_BOOL, OPT, None)])
msg('GetMetricsRequest', [('scaledObjectRef', 1, F.TYPE_MESSAGE, OPT, '.externalscaler.ScaledObjectRef'), ('metricName', 2, F.TYPE_STRING, OPT, None)])
msg('MetricValue', [('metricName', 1, F.TYPE_STRING, OPT, None), ('metricValue', 2, F.TYPE_INT64, OPT, None), ('metricValueFloat', 3, F.TYPE_DOUBLE, OPT, None)])
msg('GetMetricsResponse', [('metricValues', 1, F.TYPE_MESSAGE, REP, '.externalscaler.MetricValue')])
classes = message_factory.GetMessages([fdp])
Ref, IsActiveResponse = classes['externalscaler.ScaledObjectRef'], classes['externalscaler.IsActiveResponse']
GetMetricsRequest, GetMetricsResponse = classes['externalscaler.GetMetricsRequest'], classes['externalscaler.GetMetricsResponse']

channel = grpc.insecure_channel(address)
is_active = channel.unary_unary('/externalscaler.ExternalScaler/IsActive', request_serializer=Ref.SerializeToString, response_deserializer=IsActiveResponse.FromString)
get_metrics = channel.unary_unary('/externalscaler.ExternalScaler/GetMetrics', request_serializer=GetMetricsRequest.SerializeToString, response_deserializer=GetMetricsResponse.FromString)
ref = Ref(name='web', namespace='default')
ref.scalerMetadata.update({'scalerAddress': 'x:9090', 'port': '8080', 'metric': 'rps', 'targetValue': '10'})
active = is_active(ref, timeout=10).result
metrics = get_metrics(GetMetricsRequest(scaledObjectRef=ref, metricName=metric_name.upper()), timeout=10)
bad = Ref(name='web', namespace='default')
bad.scalerMetadata.update({'port': '8080', 'targetValue': '-1'})
try:
    is_active(bad, timeout=10)
    bad_code = 'OK'
except grpc.RpcError as e:
    bad_code = e.code().name
print(json.dumps({'isActive': active, 'badCode': bad_code, 'metricValues': [
    {'metricName': v.metricName, 'metricValue': v.metricValue, 'metricValueFloat': v.metricValueFloat} for v in metrics.metricValues]}))
`;

export const PYTHON = '/usr/bin/python3';
