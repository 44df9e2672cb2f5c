"""The cluster stage: algorithms on unit vectors (`algorithms`), stored runs (`runs`), each
cluster's representative queries (`representatives`), and new queries assigned to an
existing run (`assign`)."""
