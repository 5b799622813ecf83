"""moto's server for the deploy tests, with its change set execution completed.

moto executes a change set by updating the stack's resources only: the stack keeps the
parameters, outputs and exports it had (none, for a stack created by a change set), so a
stack importing another's export fails; and it finds the change set by name alone, though
names are unique per stack only. Its ECS task definition update forgets to map the template's
keys (`Image` stays `Image`, so the new revision has no `image`), and a service whose
`TaskDefinition: !Ref …` now names a new revision is not updated. CloudFormation does none of
this; the patches below are the smallest that let moto stand in for change-set deploys.
Everything else is moto.

usage: python moto_server.py PORT
"""

import sys

from moto.cloudformation import models
from moto.ecs import models as ecs
from moto.server import main

original_execute = models.CloudFormationBackend.execute_change_set


def execute_change_set(self, change_set_name, stack_name=None):
    # Change set names are unique per stack, not per region: pick the one of this stack (moto
    # takes the last of that name, whichever stack it belongs to) and hand moto its ARN.
    def of_stack(cs):
        stack = self.stacks.get(cs.stack_id)
        return stack_name is None or stack_name in (cs.stack_id, getattr(stack, "name", None))

    arn, change_set = next(
        (
            (arn, cs)
            for arn, cs in self.change_sets.items()
            if arn == change_set_name or (cs.change_set_name == change_set_name and of_stack(cs))
        ),
        (change_set_name, None),
    )
    change_set_name = arn
    if change_set is not None:
        stack = self.stacks[change_set.stack_id]
        # Imports resolve against the region's exports, as for stacks made by CreateStack.
        stack.cross_stack_resources = self.exports
        stack.resource_map.cross_stack_resources = self.exports
    original_execute(self, change_set_name, stack_name)
    if change_set is None:
        return
    stack = self.stacks[change_set.stack_id]
    stack.parameters = change_set.parameters
    stack.resource_map._parameters = change_set.parameters
    stack._parse_template()
    for export in stack.exports:
        self.exports.pop(export.name, None)
    stack.output_map = stack._create_output_map()
    for export in stack.exports:
        self.exports[export.name] = export


    sync_services(self, stack)


def sync_services(backend, stack):
    """Points each ECS service of the stack at the revision its TaskDefinition Ref names now."""
    ecs_backend = ecs.ecs_backends[backend.account_id][backend.region_name]
    for logical_id, resource in (stack.template_dict.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::ECS::Service":
            continue
        ref = (resource.get("Properties") or {}).get("TaskDefinition")
        if not (isinstance(ref, dict) and "Ref" in ref):
            continue
        task_definition = stack.resource_map[ref["Ref"]]
        service = stack.resource_map[logical_id]
        if getattr(service, "task_definition", None) != task_definition.arn:
            ecs_backend.update_service(
                {"cluster": service.cluster_name, "service": service.name, "task_definition": task_definition.arn}
            )


def update_task_definition(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    properties = cloudformation_json["Properties"]
    family = properties.get("Family", original_resource.family)
    containers = ecs.remap_nested_keys(properties.get("ContainerDefinitions", []), ecs.pascal_to_camelcase)
    volumes = ecs.remap_nested_keys(properties.get("Volumes", []), ecs.pascal_to_camelcase)
    if (original_resource.family, original_resource.container_definitions, original_resource.volumes) == (
        family,
        containers,
        volumes,
    ):
        return original_resource
    backend = ecs.ecs_backends[account_id][region_name]
    backend.deregister_task_definition(original_resource.arn)
    return backend.register_task_definition(
        family=family, container_definitions=containers, volumes=volumes, memory=properties.get("Memory")
    )


models.CloudFormationBackend.execute_change_set = execute_change_set
ecs.TaskDefinition.update_from_cloudformation_json = classmethod(update_task_definition)

if __name__ == "__main__":
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
